"""Real time: the WebSocket protocol, the events producers publish and the live market feed.

- `events`: the event shapes, channel names and the `EventPublisher` port every producer uses;
- `protocol`: client messages, channels, who may join them (`ChannelService`); `ports`: what it
  needs of accounts, backtests, the market catalog and the connection store;
- `market_feed`: the market channels' candle and ticker updates from the exchange's klines.
"""
