//! The `smpp` transport.

pub mod text;
