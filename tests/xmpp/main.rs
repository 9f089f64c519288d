//! The `xmpp` transport against a real Prosody, in a test binary of its own: each test starts a
//! Prosody and a host, and cargo runs test binaries one after another, so this load never
//! overlaps the timing-sensitive RabbitMQ tests of `e2e`.

mod prosody_harness;
mod transport;
