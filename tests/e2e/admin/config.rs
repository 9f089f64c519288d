//! The config editor: problems at their lines, nothing saved with one, a backup of what a save replaces.

use super::*;

fn config_problems(reply: &Reply, what: &str) -> Vec<Value> {
    reply.json(what)["problems"]
        .as_array()
        .cloned()
        .unwrap_or_else(|| panic!("{what}: no problems list: {}", reply.body))
}

#[test]
fn the_config_is_checked_at_its_lines_and_saved_with_a_backup() {
    let (admin, telnet) = (free_port(), free_port());
    let top = format!("admin: {{bind: \"127.0.0.1:{admin}\"}}\n");
    let (_host, _tmp) = start("admin-config", &telnet_yaml("editing", telnet, "echo", &top), &[]);
    let current = get(admin, "/api/config");
    assert_eq!(current.status, 200, "{}", current.body);
    let current = current.json("/api/config");
    let path = std::path::PathBuf::from(current["path"].as_str().expect("path"));
    let original = std::fs::read_to_string(&path).expect("the config file");
    assert_eq!(current["text"], original.as_str());
    assert!(original.ends_with('\n'));

    // An unknown key on a known line.
    let line = original.lines().count() + 1;
    let bad = format!("{original}no_such_section: 1\n");
    let refused = call(admin, "PUT", "/api/config", None, Some(&bad));
    assert_eq!(refused.status, 422, "{}", refused.body);
    let found = config_problems(&refused, "PUT /api/config");
    assert!(
        found
            .iter()
            .any(|p| p["line"] == line && p["message"].as_str().is_some_and(|m| m.contains("no_such_section"))),
        "a problem at line {line} naming the key: {found:?}"
    );
    assert_eq!(std::fs::read_to_string(&path).unwrap(), original, "nothing saved");
    let checked = call(admin, "POST", "/api/config/validate", None, Some(&bad));
    assert_eq!(checked.status, 200, "{}", checked.body);
    assert_eq!(checked.json("validate")["valid"], false);
    assert_eq!(config_problems(&checked, "validate"), found, "validate finds the same");

    // A valid text is saved, the old one kept.
    let new = format!(
        "# edited through the admin API\n{}",
        original.replace("editing", "edited")
    );
    let checked = call(admin, "POST", "/api/config/validate", None, Some(&new));
    assert_eq!(checked.status, 200, "{}", checked.body);
    assert_eq!(checked.json("validate")["valid"], true, "{}", checked.body);
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        original,
        "validate saves nothing"
    );
    let saved = call(admin, "PUT", "/api/config", None, Some(&new));
    assert_eq!(saved.status, 200, "{}", saved.body);
    let saved = saved.json("PUT /api/config")["saved"].clone();
    assert_eq!(saved["path"], path.display().to_string().as_str(), "{saved}");
    let backup = std::path::PathBuf::from(saved["backup"].as_str().expect("backup"));
    assert_eq!(
        std::fs::read_to_string(&backup).expect("the backup exists"),
        original,
        "the backup holds the old text"
    );
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        new,
        "the file has the new text"
    );
    assert_eq!(get(admin, "/api/config").json("/api/config")["text"], new.as_str());
    assert_eq!(
        get(admin, "/health").json("/health")["system_alias"],
        "editing",
        "the running host keeps its config until restarted"
    );

    // Over 1 MiB: refused, nothing written.
    let mut big = new.clone();
    while big.len() <= 1024 * 1024 {
        big.push_str("# padding padding padding padding padding padding padding padding\n");
    }
    let refused = call(admin, "PUT", "/api/config", None, Some(&big));
    assert!(
        refused.status == 413 || refused.status == 422,
        "a config over 1 MiB: {} {}",
        refused.status,
        refused.body
    );
    assert_eq!(std::fs::read_to_string(&path).unwrap(), new, "nothing saved");
    let checked = call(admin, "POST", "/api/config/validate", None, Some(&big));
    assert!(
        checked.status == 413 || checked.status == 422,
        "{} {}",
        checked.status,
        checked.body
    );
}
