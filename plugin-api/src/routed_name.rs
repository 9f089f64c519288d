//! The name of the endpoint a routed delivery goes to, as it crosses the plugin boundary.

use abi_stable::{
    std_types::{ROption, RString},
    StableAbi,
};

/// Bytes of an endpoint name a [`RoutedName`] keeps inline.
const INLINE_NAME: usize = 30;

/// The name of the endpoint a [`Routed`] goes to. One that is short (most are) is kept inline,
/// so routing a message allocates nothing for it; a longer one is kept in an `RString`.
#[repr(C)]
#[derive(StableAbi, Clone)]
pub struct RoutedName {
    len: u8,
    inline: [u8; INLINE_NAME],
    long: ROption<RString>,
}

impl RoutedName {
    fn short(name: &str) -> Option<Self> {
        let len = name.len();
        (len <= INLINE_NAME).then(|| {
            let mut inline = [0u8; INLINE_NAME];
            inline[..len].copy_from_slice(name.as_bytes());
            Self {
                len: len as u8,
                inline,
                long: ROption::RNone,
            }
        })
    }

    pub fn as_str(&self) -> &str {
        match &self.long {
            ROption::RSome(long) => long.as_str(),
            ROption::RNone => {
                let bytes = &self.inline[..usize::from(self.len).min(INLINE_NAME)];
                // SAFETY: the fields are private and every constructor copies a whole `str`, so
                // the bytes are UTF-8, as an `RString` from a library is trusted to be.
                unsafe { std::str::from_utf8_unchecked(bytes) }
            }
        }
    }
}

impl From<&str> for RoutedName {
    fn from(name: &str) -> Self {
        Self::short(name).unwrap_or_else(|| Self {
            len: 0,
            inline: [0; INLINE_NAME],
            long: ROption::RSome(name.into()),
        })
    }
}

impl From<String> for RoutedName {
    fn from(name: String) -> Self {
        Self::short(&name).unwrap_or_else(|| Self {
            len: 0,
            inline: [0; INLINE_NAME],
            long: ROption::RSome(name.into()),
        })
    }
}

impl std::ops::Deref for RoutedName {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl PartialEq for RoutedName {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for RoutedName {}

impl PartialEq<str> for RoutedName {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for RoutedName {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl std::fmt::Debug for RoutedName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self.as_str(), f)
    }
}

impl std::fmt::Display for RoutedName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_short_name_is_kept_inline_and_a_long_one_in_a_string() {
        let short = RoutedName::from("echo_app");
        assert_eq!(short.as_str(), "echo_app");
        assert!(matches!(short.long, ROption::RNone));
        let exact = "x".repeat(INLINE_NAME);
        assert!(matches!(RoutedName::from(exact.as_str()).long, ROption::RNone));
        let long = "y".repeat(INLINE_NAME + 1);
        let name = RoutedName::from(long.clone());
        assert!(matches!(name.long, ROption::RSome(_)));
        assert_eq!(name.as_str(), long);
    }

    #[test]
    fn names_compare_by_their_text_whatever_the_storage() {
        let text = "ünïcode_endpoint";
        assert_eq!(RoutedName::from(text), RoutedName::from(text.to_owned()));
        assert_eq!(RoutedName::from(text), text);
        assert_eq!(format!("{:?}", RoutedName::from(text)), format!("{text:?}"));
        assert_eq!(&*RoutedName::from(""), "");
    }

    #[test]
    fn a_length_past_the_inline_bytes_is_cut_to_them() {
        let mut name = RoutedName::from("ab");
        name.len = u8::MAX;
        assert_eq!(name.as_str().len(), INLINE_NAME);
        assert!(name.as_str().starts_with("ab"));
    }
}
