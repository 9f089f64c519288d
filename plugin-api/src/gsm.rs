//! The GSM 03.38 default alphabet and its extension table: what a GSM 7-bit message can carry.

/// The GSM escape septet that introduces a character from the extension table.
pub const ESC: u8 = 0x1B;

/// The GSM 03.38 default alphabet, indexed by septet. The entry at 0x1B is the escape and is never looked up.
#[rustfmt::skip]
pub const GSM_BASIC: [char; 128] = [
    '@', '£', '$', '¥', 'è', 'é', 'ù', 'ì', 'ò', 'Ç', '\n', 'Ø', 'ø', '\r', 'Å', 'å',
    'Δ', '_', 'Φ', 'Γ', 'Λ', 'Ω', 'Π', 'Ψ', 'Σ', 'Θ', 'Ξ', '\u{1B}', 'Æ', 'æ', 'ß', 'É',
    ' ', '!', '"', '#', '¤', '%', '&', '\'', '(', ')', '*', '+', ',', '-', '.', '/',
    '0', '1', '2', '3', '4', '5', '6', '7', '8', '9', ':', ';', '<', '=', '>', '?',
    '¡', 'A', 'B', 'C', 'D', 'E', 'F', 'G', 'H', 'I', 'J', 'K', 'L', 'M', 'N', 'O',
    'P', 'Q', 'R', 'S', 'T', 'U', 'V', 'W', 'X', 'Y', 'Z', 'Ä', 'Ö', 'Ñ', 'Ü', '§',
    '¿', 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l', 'm', 'n', 'o',
    'p', 'q', 'r', 's', 't', 'u', 'v', 'w', 'x', 'y', 'z', 'ä', 'ö', 'ñ', 'ü', 'à',
];

/// The GSM 03.38 extension table: the septet that follows [`ESC`], and the character it stands for.
pub const GSM_EXTENSION: [(u8, char); 10] = [
    (0x0A, '\u{0C}'),
    (0x14, '^'),
    (0x28, '{'),
    (0x29, '}'),
    (0x2F, '\\'),
    (0x3C, '['),
    (0x3D, '~'),
    (0x3E, ']'),
    (0x40, '|'),
    (0x65, '€'),
];

/// The septet for `ch` in the GSM basic table.
pub fn basic_code(ch: char) -> Option<u8> {
    let index = GSM_BASIC.iter().position(|&c| c == ch)?;
    let code = u8::try_from(index).ok()?;
    (code != ESC).then_some(code)
}

/// The septet that follows the escape for `ch` in the GSM extension table.
pub fn extension_code(ch: char) -> Option<u8> {
    GSM_EXTENSION.iter().find(|&&(_, c)| c == ch).map(|&(code, _)| code)
}

/// The character for `code` in the GSM extension table.
pub fn extension_char(code: u8) -> Option<char> {
    GSM_EXTENSION.iter().find(|&&(c, _)| c == code).map(|&(_, ch)| ch)
}

/// The first character of `text` that GSM 7-bit cannot carry, if any.
pub fn first_unencodable(text: &str) -> Option<char> {
    text.chars()
        .find(|&ch| basic_code(ch).is_none() && extension_code(ch).is_none())
}

/// Septets `text` takes in GSM 7-bit (an extension character takes two); `None` when it cannot
/// be carried.
pub fn septets(text: &str) -> Option<usize> {
    text.chars().try_fold(0usize, |n, ch| {
        if basic_code(ch).is_some() {
            Some(n + 1)
        } else {
            extension_code(ch).map(|_| n + 2)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extension_characters_take_two_septets() {
        assert_eq!(septets("Hello"), Some(5));
        assert_eq!(septets("€10"), Some(4));
        assert_eq!(septets("naïve"), None);
        assert_eq!(first_unencodable("naïve"), Some('ï'));
        assert_eq!(first_unencodable("Ünïcode"), Some('ï'));
    }
}
