//! `cargo xtask dist`: the release artifacts, built and checked as users get them.
//!
//! ```text
//! dist/grafx-signer-0.1.0-x86_64-unknown-linux-musl.tar.gz    the static signer, licenses, README,
//!                                                             deploy/'s Dockerfile and compose.yaml
//! dist/grafx-emulator-0.1.0-x86_64-unknown-linux-musl.tar.gz  the static emulator, for users' CI
//! dist/grafx-wasm-0.1.0.tgz                                   `npm pack` of the npm package
//! dist/SHA256SUMS                                             `sha256sum -c SHA256SUMS`
//! ```
//!
//! Before writing anything it proves the signer static ([`crate::empty_root`]) and packages the
//! publishable crates (`cargo package`, which builds each from its `.crate` file).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::bootstrap::Toolchain;

/// The release target: a statically linked Linux binary that runs in an empty image.
pub(crate) const MUSL: &str = "x86_64-unknown-linux-musl";

/// The crates published to crates.io, in dependency order.
pub(crate) const PUBLISHED: [&str; 3] = ["grafx-core", "grafx-wasm", "grafx-signer"];

/// The workspace version: the crates' and the npm package's (wasm-pack copies it). xtask
/// inherits it from `[workspace.package]` like every crate.
pub(crate) const VERSION: &str = env!("CARGO_PKG_VERSION");

fn run(mut cmd: Command, what: &str) -> Result<()> {
    println!("xtask: $ {what}");
    let status = cmd
        .status()
        .with_context(|| format!("cannot start {what}"))?;
    if !status.success() {
        bail!("`{what}` failed with {status}");
    }
    Ok(())
}

/// Builds `bins` (packages whose binary has their name) for [`MUSL`], stripped; returns their
/// directory.
pub(crate) fn build_static(root: &Path, toolchain: &Toolchain, bins: &[&str]) -> Result<PathBuf> {
    let mut cmd = Command::new("cargo");
    cmd.args(["build", "--release", "--locked", "--target", MUSL, "--bins"]);
    for bin in bins {
        cmd.args(["-p", bin]);
    }
    cmd.current_dir(root)
        .env("PATH", &toolchain.path)
        // mimalloc and ring compile C: with musl's gcc wrapper, against musl's libc.
        .env("CC_x86_64_unknown_linux_musl", "musl-gcc")
        .env("CARGO_PROFILE_RELEASE_STRIP", "symbols");
    run(
        cmd,
        &format!(
            "cargo build --release --target {MUSL} ({})",
            bins.join(", ")
        ),
    )?;
    let dir = root.join("target").join(MUSL).join("release");
    for bin in bins {
        ensure_static(&dir.join(bin))?;
    }
    Ok(dir)
}

/// Fails unless `bin` is an ELF executable with no interpreter (`PT_INTERP`): a dynamically
/// linked one names its loader there, which an empty image does not have.
pub(crate) fn ensure_static(bin: &Path) -> Result<()> {
    let elf = std::fs::read(bin).with_context(|| format!("reading {}", bin.display()))?;
    let field = |at: usize, len: usize| -> Result<u64> {
        let bytes = elf.get(at..at + len).context("truncated ELF header")?;
        Ok(bytes
            .iter()
            .rev()
            .fold(0u64, |acc, b| (acc << 8) | u64::from(*b)))
    };
    if elf.get(..5) != Some(b"\x7fELF\x02") || elf.get(5) != Some(&1) {
        bail!("{} is not a 64-bit little-endian ELF file", bin.display());
    }
    let phoff = usize::try_from(field(0x20, 8)?)?;
    let phentsize = usize::try_from(field(0x36, 2)?)?;
    let phnum = usize::try_from(field(0x38, 2)?)?;
    for i in 0..phnum {
        const PT_INTERP: u64 = 3;
        if field(phoff + i * phentsize, 4)? == PT_INTERP {
            bail!(
                "{} is dynamically linked (it names a program interpreter)",
                bin.display()
            );
        }
    }
    Ok(())
}

/// The README inside each binary's archive.
fn archive_readme(bin: &str, version: &str) -> String {
    let about = match bin {
        "grafx-signer" => "Keeps a CHILI GraFx integration's client secret server-side and hands short-lived \
             access tokens to trusted browser origins.\n\n\
             A statically linked binary: it needs no libc, loader or CA bundle, and runs in an empty \
             image (`FROM scratch`: see `Dockerfile`, and `compose.yaml` for replicas sharing Redis). \
             HTTPS trusts Mozilla's root certificates, built in; set `SSL_CERT_FILE` to a PEM file \
             to trust a private CA as well.",
        _ => "A local stand-in for CHILI GraFx's auth server and Environment API (seeded content, \
             fault injection, a movable clock), for your own tests and demos. A statically linked \
             binary; it serves plain HTTP on loopback.",
    };
    format!(
        "# {bin} {version} (x86_64-unknown-linux-musl)\n\n{about}\n\n\
         ```sh\n./{bin} --help\n./{bin} --version\n```\n\n\
         The crates it links and their licenses: THIRD-PARTY-LICENSES.txt. Documentation: \
         https://github.com/grafx-signer/grafx-signer#readme\n"
    )
}

/// Writes `dist/{bin}-{version}-{MUSL}.tar.gz` with the binary, the licenses and a README.
fn archive(root: &Path, dist: &Path, bins: &Path, bin: &str, version: &str) -> Result<String> {
    let name = format!("{bin}-{version}-{MUSL}");
    let stage = root.join("target/dist-stage").join(&name);
    let _ = std::fs::remove_dir_all(&stage);
    std::fs::create_dir_all(&stage)?;
    std::fs::copy(bins.join(bin), stage.join(bin))?;
    for license in ["LICENSE-MIT", "LICENSE-APACHE"] {
        std::fs::copy(root.join(license), stage.join(license))?;
    }
    std::fs::write(stage.join("README.md"), archive_readme(bin, version))?;
    std::fs::write(
        stage.join("THIRD-PARTY-LICENSES.txt"),
        crate::licenses::third_party(root, bin, MUSL)?,
    )?;
    if bin == "grafx-signer" {
        // The container recipe builds from the unpacked archive: `docker build .` there.
        for recipe in ["Dockerfile", "compose.yaml"] {
            std::fs::copy(root.join("deploy").join(recipe), stage.join(recipe))?;
        }
        std::fs::create_dir_all(stage.join("data"))?;
    }
    let file = format!("{name}.tar.gz");
    let mut tar = Command::new("tar");
    tar.args([
        "--sort=name",
        "--owner=0",
        "--group=0",
        "--numeric-owner",
        // Readable by all and not writable but by the owner, whatever the umask was.
        "--mode=u+rwX,go+rX,go-w",
        "--mtime=@0",
        "-czf",
    ])
    .arg(dist.join(&file))
    .arg("-C")
    .arg(stage.parent().context("stage dir")?)
    .arg(&name);
    run(tar, &format!("tar -czf dist/{file}"))?;
    Ok(file)
}

/// `cargo xtask dist`.
pub(crate) fn run_dist(root: &Path, install: bool) -> Result<bool> {
    let toolchain = crate::bootstrap::ensure(root, install)?;
    let version = VERSION;
    let bins = build_static(root, &toolchain, &["grafx-signer", "grafx-emulator"])?;
    crate::empty_root::check(root, &bins.join("grafx-signer"))?;
    let mut package = Command::new("cargo");
    package.args(["package", "--locked", "--allow-dirty"]);
    for krate in PUBLISHED {
        package.args(["-p", krate]);
    }
    // Its own target directory: the packaged crates' builds must not leave a second copy of a
    // dependency beside the workspace's (rustdoc then cannot tell the two apart).
    package
        .current_dir(root)
        .env("PATH", &toolchain.path)
        .env("CARGO_TARGET_DIR", root.join("target/package-verify"));
    run(
        package,
        "cargo package -p grafx-core -p grafx-wasm -p grafx-signer",
    )?;
    for (target, out) in crate::package::TARGETS {
        crate::package::build(root, &toolchain, target, out)?;
    }
    let pkg = root.join("crates/grafx-wasm/pkg");
    crate::package::finish_package_json(&pkg)?;
    std::fs::write(
        pkg.join("THIRD-PARTY-LICENSES.txt"),
        crate::licenses::third_party(root, "grafx-wasm", "wasm32-unknown-unknown")?,
    )?;
    crate::package::ship_in_npm_package(&pkg, "THIRD-PARTY-LICENSES.txt")?;
    let dist = root.join("dist");
    let _ = std::fs::remove_dir_all(&dist);
    std::fs::create_dir_all(&dist)?;
    let mut files = vec![
        archive(root, &dist, &bins, "grafx-signer", version)?,
        archive(root, &dist, &bins, "grafx-emulator", version)?,
    ];
    let mut pack = Command::new("npm");
    pack.args(["pack", "--pack-destination"])
        .arg(&dist)
        .current_dir(root.join("crates/grafx-wasm/pkg"))
        .env("PATH", &toolchain.path);
    run(pack, "npm pack (crates/grafx-wasm/pkg)")?;
    let tgz = format!("grafx-wasm-{version}.tgz");
    if !dist.join(&tgz).exists() {
        bail!("npm pack did not write dist/{tgz}");
    }
    files.push(tgz);
    let sums = Command::new("sha256sum")
        .args(&files)
        .current_dir(&dist)
        .output()
        .context("sha256sum")?;
    if !sums.status.success() {
        bail!("sha256sum failed");
    }
    std::fs::write(dist.join("SHA256SUMS"), &sums.stdout)?;
    println!("xtask: dist/ holds:");
    for f in files.iter().chain([&"SHA256SUMS".to_owned()]) {
        let size = std::fs::metadata(dist.join(f))?.len();
        println!("xtask:   {f} ({size} bytes)");
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dynamically_linked_binary_is_refused() {
        // The test binary itself is linked against glibc: it names its loader.
        let me = std::env::current_exe().unwrap();
        let e = ensure_static(&me).unwrap_err().to_string();
        assert!(e.contains("dynamically linked"), "{e}");
        let not_elf = std::env::temp_dir().join(format!("not-elf-{}", std::process::id()));
        std::fs::write(&not_elf, b"#!/bin/sh\n").unwrap();
        assert!(ensure_static(&not_elf).is_err());
        let _ = std::fs::remove_file(&not_elf);
    }
}
