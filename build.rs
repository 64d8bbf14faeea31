//! Builds the console (`web/`, TypeScript + Vite) into `$OUT_DIR/web`, which `src/console`
//! embeds. Node.js and npm are optional: without them, or when the build fails, the engine
//! still builds (with a cargo warning) and `/` explains how to build the console.

use std::env;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::SystemTime;

/// What the console is built from; a change to any of these rebuilds it.
const INPUTS: &[&str] = &[
    "web/src",
    "web/index.html",
    "web/chat.html",
    "web/package.json",
    "web/package-lock.json",
    "web/vite.config.ts",
    "web/tsconfig.json",
    "web/scripts",
];

fn main() {
    for input in INPUTS {
        println!("cargo:rerun-if-changed={input}");
    }
    println!("cargo:rerun-if-env-changed=ATENDE_SKIP_WEB_BUILD");
    println!("cargo:rerun-if-env-changed=NPM");

    let Some(out_dir) = env::var_os("OUT_DIR").map(PathBuf::from) else {
        return;
    };
    let dist = out_dir.join("web");
    // The embed macro wants the folder to exist even when there is nothing to serve.
    let _ = fs::remove_dir_all(&dist);
    if let Err(e) = fs::create_dir_all(&dist) {
        println!(
            "cargo:warning=console: cannot create {}: {e}",
            dist.display()
        );
        return;
    }
    if env::var_os("ATENDE_SKIP_WEB_BUILD").is_some_and(|v| !v.is_empty() && v != "0") {
        println!("cargo:warning=console: ATENDE_SKIP_WEB_BUILD is set, the console is not built");
        return;
    }
    let manifest = env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_default();
    let web = manifest.join("web");
    if !web.join("package.json").exists() {
        return;
    }
    let npm = env::var("NPM").unwrap_or_else(|_| "npm".into());
    if !runs(Command::new(&npm).arg("--version").current_dir(&web)) {
        println!(
            "cargo:warning=console: npm not found; the engine builds without the console \
             (install Node.js 20+ and npm, then build again)"
        );
        return;
    }
    if needs_install(&web) && !npm_step(&npm, &web, &["ci", "--no-audit", "--no-fund"], &dist) {
        return;
    }
    let staging = out_dir.join("web-build");
    let _ = fs::remove_dir_all(&staging);
    if npm_step(&npm, &web, &["run", "build"], &staging) {
        let _ = fs::remove_dir_all(&dist);
        if let Err(e) = fs::rename(&staging, &dist) {
            println!("cargo:warning=console: cannot move the build into place: {e}");
            let _ = fs::create_dir_all(&dist);
        }
    }
}

fn runs(command: &mut Command) -> bool {
    command
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// `npm ci` only when `node_modules` is missing or older than the lockfile.
fn needs_install(web: &Path) -> bool {
    let installed = modified(&web.join("node_modules/.package-lock.json"));
    let wanted = modified(&web.join("package-lock.json"));
    match (installed, wanted) {
        (Some(installed), Some(wanted)) => installed < wanted,
        _ => true,
    }
}

fn modified(path: &Path) -> Option<SystemTime> {
    fs::metadata(path).and_then(|m| m.modified()).ok()
}

fn npm_step(npm: &str, web: &Path, args: &[&str], out: &Path) -> bool {
    let result = Command::new(npm)
        .args(args)
        .current_dir(web)
        .env("ATENDE_WEB_OUT", out)
        // Cargo sets these for build scripts; some npm packages read them with other meanings.
        .env_remove("DEBUG")
        .env_remove("PROFILE")
        .env_remove("TARGET")
        .output();
    match result {
        Ok(output) if output.status.success() => true,
        Ok(output) => {
            println!(
                "cargo:warning=console: `npm {}` failed; the engine builds without the console",
                args.join(" ")
            );
            let text = String::from_utf8_lossy(&output.stdout).to_string()
                + &String::from_utf8_lossy(&output.stderr);
            let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
            for line in lines.iter().rev().take(15).rev() {
                println!("cargo:warning=  {line}");
            }
            false
        }
        Err(e) => {
            println!("cargo:warning=console: cannot run npm: {e}");
            false
        }
    }
}
