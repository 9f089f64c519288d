use ruvuma_tests::*;
use std::process::Command;

#[test]
fn plugins_lists_libraries_and_components() {
    let tmp = TempDir::new("list");
    let plugins = plugin_dir(&tmp, ALL_PLUGINS);
    let out = ruvuma(&["plugins", "--plugin-dir", plugins.to_str().unwrap()]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{}{}", stdout, text(&out.stderr));
    for needle in [
        "libruvuma_telnet.so",
        "library ruvuma-telnet 0.1.0 (plugin ABI 7",
        "library ruvuma-echo 0.1.0",
        "library ruvuma-routers 0.1.0",
        "transport   telnet ",
        "application echo ",
        "router      simple ",
        "vumi.dispatchers.SimpleDispatchRouter",
        "application panicky ",
    ] {
        assert!(stdout.contains(needle), "{needle:?} missing from:\n{stdout}");
    }
}

#[test]
fn plugin_path_from_the_environment() {
    let tmp = TempDir::new("env");
    let plugins = plugin_dir(&tmp, &["ruvuma_echo"]);
    let out = Command::new(&built().ruvuma)
        .arg("plugins")
        .env("RUVUMA_PLUGIN_PATH", &plugins)
        .output()
        .expect("run");
    let stdout = text(&out.stdout);
    assert!(out.status.success());
    assert!(
        stdout.contains("application echo") && !stdout.contains("telnet"),
        "{stdout}"
    );
}

fn compile_c_library(dir: &std::path::Path) -> std::path::PathBuf {
    let src = dir.join("plain.c");
    std::fs::write(&src, "int plain_function(void) { return 42; }\n").unwrap();
    let lib = dir.join("libplain.so");
    let status = Command::new("cc")
        .args(["-shared", "-fPIC", "-o"])
        .arg(&lib)
        .arg(&src)
        .status()
        .expect("run cc");
    assert!(status.success(), "cc failed to build a plain shared library");
    lib
}

#[test]
fn a_library_that_is_not_a_plugin_is_named_and_explained() {
    let tmp = TempDir::new("notplugin");
    let plugins = plugin_dir(&tmp, &["ruvuma_echo"]);
    let lib = compile_c_library(tmp.path());
    std::fs::copy(&lib, plugins.join("libplain.so")).unwrap();
    std::fs::write(plugins.join("garbage.so"), "this is not a library").unwrap();
    let out = ruvuma(&["plugins", "--plugin-dir", plugins.to_str().unwrap()]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("libplain.so: not a ruvuma plugin"), "{stderr}");
    assert!(stderr.contains("garbage.so: not a loadable shared library"), "{stderr}");
    assert!(
        text(&out.stdout).contains("application echo"),
        "good libraries are still listed"
    );

    // A config that needs a component the broken files might have held says which files failed.
    let cfg = tmp.write("needs.yaml", &telnet_config(free_port(), "    plugin: echo"));
    let (code, _, stderr) = validate_with(&cfg, &plugins);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("unknown transport plugin \"telnet\""), "{stderr}");
    assert!(stderr.contains("libplain.so: not a ruvuma plugin"), "{stderr}");
}

#[test]
fn a_plugin_built_for_another_abi_is_refused_with_both_versions() {
    let tmp = TempDir::new("abi");
    let plugins = plugin_dir(&tmp, &["ruvuma_echo"]);
    std::fs::copy(&built().abi_mismatch, plugins.join("libruvuma_fixture_abi_mismatch.so")).unwrap();
    let out = ruvuma(&["plugins", "--plugin-dir", plugins.to_str().unwrap()]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("libruvuma_fixture_abi_mismatch.so: plugin ABI mismatch"),
        "{stderr}"
    );
    assert!(
        stderr.contains("declares plugin ABI 999") && stderr.contains("speaks plugin ABI 7"),
        "{stderr}"
    );
}

#[test]
fn the_same_component_in_two_libraries_is_an_error() {
    let tmp = TempDir::new("dup");
    let plugins = plugin_dir(&tmp, ALL_PLUGINS);
    std::fs::copy(
        plugins.join("libruvuma_echo.so"),
        plugins.join("libruvuma_echo_copy.so"),
    )
    .unwrap();
    let out = ruvuma(&["plugins", "--plugin-dir", plugins.to_str().unwrap()]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("application \"echo\" is exported by both"), "{stderr}");
    let cfg = tmp.write("c.yaml", &telnet_config(free_port(), "    plugin: echo"));
    let (code, _, stderr) = validate_with(&cfg, &plugins);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("ambiguous application \"echo\""), "{stderr}");
}
