//! PDF text extraction in a child process. A parser thread cannot be stopped from outside, so
//! a PDF bomb or a looping file would keep burning CPU and memory after the upload timed out.
//! The child (`atende extract-pdf`: the PDF on stdin, its text on stdout) gets CPU-time and
//! address-space limits from the kernel before it reads a byte, and is killed when
//! `knowledge.extract_timeout_seconds` runs out.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::Command;

use super::{KnowledgeError, KnowledgeResult};
use crate::config::KnowledgeSettings;

/// The subcommand the child runs.
pub const SUBCOMMAND: &str = "extract-pdf";

/// Exit status of the child for a file it could not read (the reason is on stderr).
pub const EXIT_UNREADABLE: i32 = 3;

/// Most bytes of the child's stderr kept for the error message.
const STDERR_CAP: u64 = 2048;

/// The program that runs [`SUBCOMMAND`]: `knowledge.extractor_path`, else this executable.
pub fn extractor(settings: &KnowledgeSettings) -> KnowledgeResult<PathBuf> {
    if !settings.extractor_path.trim().is_empty() {
        return Ok(PathBuf::from(settings.extractor_path.trim()));
    }
    std::env::current_exe()
        .map_err(|e| KnowledgeError::Worker(format!("cannot locate the PDF extractor: {e}")))
}

/// The text of `pdf`, read by a limited child process. `field` names the request field in
/// errors.
pub async fn pdf_text(
    settings: &KnowledgeSettings,
    pdf: Vec<u8>,
    field: &'static str,
) -> KnowledgeResult<String> {
    let program = extractor(settings)?;
    let mut child = Command::new(&program)
        .arg(SUBCOMMAND)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Dropping the future (timeout, cancelled request) kills the child.
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| {
            KnowledgeError::Worker(format!(
                "cannot start the PDF extractor {}: {e}",
                program.display()
            ))
        })?;
    limit(&child, settings)?;
    let (Some(mut stdin), Some(stdout), Some(stderr)) =
        (child.stdin.take(), child.stdout.take(), child.stderr.take())
    else {
        return Err(KnowledgeError::Worker("extractor pipes missing".into()));
    };
    // The text can be larger than the PDF (compressed streams); past this it is refused.
    let text_cap = u64::try_from(settings.extract_max_text_bytes).unwrap_or(u64::MAX);
    let run = async move {
        let write = async move {
            // A child that stops reading (it died, or refuses the file) ends the write early;
            // its exit status tells why.
            let _ = stdin.write_all(&pdf).await;
            drop(stdin);
        };
        let mut text = Vec::new();
        let mut text_pipe = stdout.take(text_cap + 1);
        let read_text = text_pipe.read_to_end(&mut text);
        let mut reason = Vec::new();
        let mut reason_pipe = stderr.take(STDERR_CAP);
        let read_reason = reason_pipe.read_to_end(&mut reason);
        let ((), read, _) = tokio::join!(write, read_text, read_reason);
        read.map_err(|e| KnowledgeError::Worker(format!("reading the extractor: {e}")))?;
        let status = child
            .wait()
            .await
            .map_err(|e| KnowledgeError::Worker(format!("waiting for the extractor: {e}")))?;
        Ok::<_, KnowledgeError>((status, text, reason))
    };
    let limit_secs = settings.extract_timeout_seconds;
    let (status, text, reason) = tokio::time::timeout(Duration::from_secs(limit_secs), run)
        .await
        .map_err(|_| {
            KnowledgeError::invalid(
                field,
                format!(
                    "could not be read within {limit_secs} seconds (knowledge.extract_timeout_seconds)"
                ),
            )
        })??;
    if u64::try_from(text.len()).unwrap_or(u64::MAX) > text_cap {
        return Err(KnowledgeError::invalid(
            field,
            "has more text than knowledge.extract_max_text_bytes allows",
        ));
    }
    match status.code() {
        Some(0) => String::from_utf8(text)
            .map_err(|_| KnowledgeError::Worker("the extractor wrote invalid UTF-8".into())),
        Some(EXIT_UNREADABLE) => {
            let reason = String::from_utf8_lossy(&reason);
            let reason = reason.trim();
            Err(KnowledgeError::invalid(
                field,
                if reason.is_empty() {
                    "is a corrupt or unreadable PDF"
                } else {
                    reason
                },
            ))
        }
        // Killed by the kernel (CPU time, memory) or crashed on the file.
        _ => Err(KnowledgeError::invalid(
            field,
            "is too large or too complex to read (knowledge.extract_cpu_seconds, extract_memory_bytes)",
        )),
    }
}

/// Sets the child's CPU-time and address-space limits before it is given the file.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn limit(child: &tokio::process::Child, settings: &KnowledgeSettings) -> KnowledgeResult<()> {
    use rlimit::Resource;
    let pid = child
        .id()
        .and_then(|id| i32::try_from(id).ok())
        .ok_or_else(|| KnowledgeError::Worker("the extractor exited at once".into()))?;
    let cpu = settings.extract_cpu_seconds;
    let memory = settings.extract_memory_bytes;
    for (resource, value) in [(Resource::CPU, cpu), (Resource::AS, memory)] {
        rlimit::prlimit(pid, resource, Some((value, value)), None)
            .map_err(|e| KnowledgeError::Worker(format!("cannot limit the extractor: {e}")))?;
    }
    Ok(())
}

/// Elsewhere only the timeout stops a runaway child.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn limit(_child: &tokio::process::Child, _settings: &KnowledgeSettings) -> KnowledgeResult<()> {
    Ok(())
}

/// The child's side: reads a PDF from stdin and writes its text to stdout. Exits 0 with the
/// text, [`EXIT_UNREADABLE`] with a reason on stderr for a file it cannot read.
pub fn run_child() -> i32 {
    use std::io::{Read, Write};
    let mut pdf = Vec::new();
    if let Err(e) = std::io::stdin().read_to_end(&mut pdf) {
        eprintln!("cannot read the file: {e}");
        return EXIT_UNREADABLE;
    }
    match super::extract::pdf_text_in_process(&pdf) {
        Ok(text) => match std::io::stdout().write_all(text.as_bytes()) {
            Ok(()) => 0,
            Err(_) => EXIT_UNREADABLE,
        },
        Err(reason) => {
            eprintln!("{reason}");
            EXIT_UNREADABLE
        }
    }
}
