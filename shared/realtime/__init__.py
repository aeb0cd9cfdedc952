"""Real time: the WebSocket protocol and the live market feed (the events every feature publishes,
their channels and the `EventPublisher` port are `shared.events`).

- `protocol`: client messages, channels, who may join them (`ChannelService`); `ports`: what it
  needs of accounts, backtests, the market catalog and the connection store;
- `market_feed`: the market channels' candle and ticker updates from the exchange's klines.
"""
