//! GSM 03.38, Latin-1 and UCS2 text, and splitting long messages.
