//! `${VAR}` and `${VAR:-default}` in a string value read the environment.

/// The value with every `${...}` replaced, or what is wrong, naming the key.
pub fn expand(text: &str, key_path: &[String]) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            return Err(format!("key {:?}: unclosed \"${{\" in {text:?}", key_path.join(".")));
        };
        let spec = &after[..end];
        let (var, default) = match spec.split_once(":-") {
            Some((v, d)) => (v, Some(d)),
            None => (spec, None),
        };
        match (std::env::var(var), default) {
            (Ok(v), _) => out.push_str(&v),
            (Err(_), Some(d)) => out.push_str(d),
            (Err(_), None) => {
                return Err(format!(
                    "key {:?}: environment variable {var} is not set (write ${{{var}:-default}} for a default)",
                    key_path.join(".")
                ))
            }
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}
