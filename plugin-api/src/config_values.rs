//! Helpers for config values: deserializers for values that may come as text (a `${VAR}` the
//! host expands is always text, even where the key wants a number), and range checks.

use serde::Deserialize;

/// A port as a number, or as text holding one (`port: "${SMSC_PORT:-2775}"`). For
/// `#[serde(deserialize_with = "ruvuma_plugin_api::config_values::port_number")]`.
pub fn port_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u16, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Given {
        Number(u16),
        Text(String),
    }
    match Given::deserialize(d)? {
        Given::Number(n) => Ok(n),
        Given::Text(t) => t
            .trim()
            .parse()
            .map_err(|_| serde::de::Error::custom(format!("{t:?} is not a port number (1 to 65535)"))),
    }
}

/// A problem for `key` when `value` is outside `low..=high`, saying which end it passed.
pub fn out_of<T: PartialOrd + std::fmt::Display>(key: &str, value: T, low: T, high: T) -> Option<crate::ConfigProblem> {
    if value < low {
        Some(crate::ConfigProblem::at(
            key,
            format!("must be at least {low}, found {value}"),
        ))
    } else if value > high {
        Some(crate::ConfigProblem::at(
            key,
            format!("must be at most {high}, found {value}"),
        ))
    } else {
        None
    }
}

/// A problem for `key` when `value` is not a number of seconds in `0.1..=high`.
pub fn seconds(key: &str, value: f64, high: f64) -> Option<crate::ConfigProblem> {
    if value.is_finite() {
        out_of(key, value, 0.1, high)
    } else {
        Some(crate::ConfigProblem::at(key, "must be a number of seconds"))
    }
}

/// A problem for `reconnect_max_delay` when it is below `reconnect_delay`.
pub fn reconnect_delays(delay: f64, max_delay: f64) -> Option<crate::ConfigProblem> {
    (max_delay < delay).then(|| crate::ConfigProblem::at("reconnect_max_delay", "must be at least reconnect_delay"))
}

/// `Ok` when there are no problems, else every one in one message (`key: what; key: what`).
pub fn all_or_nothing(problems: &[crate::ConfigProblem]) -> Result<(), String> {
    if problems.is_empty() {
        return Ok(());
    }
    let all: Vec<String> = problems.iter().map(|p| format!("{}: {}", p.key, p.message)).collect();
    Err(all.join("; "))
}

/// A number of seconds already checked by [`seconds`], as a `Duration`.
pub fn duration(secs: f64) -> std::time::Duration {
    std::time::Duration::try_from_secs_f64(secs).unwrap_or(std::time::Duration::from_secs(1))
}

#[cfg(test)]
mod tests {
    #[derive(serde::Deserialize)]
    struct C {
        #[serde(deserialize_with = "super::port_number")]
        port: u16,
    }

    #[test]
    fn a_port_comes_as_a_number_or_as_text() {
        let port = |json: &str| serde_json::from_str::<C>(json).map(|c| c.port);
        assert_eq!(port(r#"{"port": 2775}"#).unwrap(), 2775);
        assert_eq!(port(r#"{"port": " 50008 "}"#).unwrap(), 50008);
        let e = port(r#"{"port": "70000"}"#).unwrap_err().to_string();
        assert!(e.contains("\"70000\" is not a port number"), "{e}");
    }

    #[test]
    fn out_of_names_the_end_passed() {
        assert!(super::out_of("k", 5, 1, 10).is_none());
        assert!(super::out_of("k", 0, 1, 10)
            .unwrap()
            .to_string()
            .contains("at least 1, found 0"));
        assert!(super::out_of("k", 11, 1, 10)
            .unwrap()
            .to_string()
            .contains("at most 10, found 11"));
        assert!(super::seconds("t", 0.5, 10.0).is_none());
        assert!(super::reconnect_delays(1.0, 60.0).is_none());
        let problems: Vec<_> = super::reconnect_delays(5.0, 1.0).into_iter().collect();
        assert_eq!(
            super::all_or_nothing(&problems).unwrap_err(),
            "reconnect_max_delay: must be at least reconnect_delay"
        );
        assert_eq!(super::duration(0.25), std::time::Duration::from_millis(250));
        assert!(super::seconds("t", f64::NAN, 10.0)
            .unwrap()
            .to_string()
            .contains("a number of seconds"));
    }
}
