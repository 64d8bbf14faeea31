//! Text out of uploaded documents. Text and Markdown are taken as written (UTF-8 only),
//! HTML is rendered to text by `html2text` (headings come out as Markdown `#` lines, which the
//! chunker follows), PDF text is read by `pdf-extract`. Every failure is bad input with a
//! reason the operator can act on; none may take the process down.

use super::{KnowledgeError, KnowledgeResult};

/// What a document was uploaded as (`knowledge_documents.source_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceType {
    Text,
    Markdown,
    Html,
    Pdf,
}

impl SourceType {
    pub fn as_str(self) -> &'static str {
        match self {
            SourceType::Text => "text",
            SourceType::Markdown => "markdown",
            SourceType::Html => "html",
            SourceType::Pdf => "pdf",
        }
    }

    /// The API's `content_type` values (and the stored `source_type`).
    pub fn parse(raw: &str) -> Option<Self> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "text" | "txt" | "plain" => Some(SourceType::Text),
            "markdown" | "md" => Some(SourceType::Markdown),
            "html" | "htm" => Some(SourceType::Html),
            "pdf" => Some(SourceType::Pdf),
            _ => None,
        }
    }

    fn from_mime(mime: &str) -> Option<Self> {
        let essence = mime.split(';').next().unwrap_or_default().trim();
        match essence.to_ascii_lowercase().as_str() {
            "text/plain" => Some(SourceType::Text),
            "text/markdown" | "text/x-markdown" => Some(SourceType::Markdown),
            "text/html" | "application/xhtml+xml" => Some(SourceType::Html),
            "application/pdf" | "application/x-pdf" => Some(SourceType::Pdf),
            _ => None,
        }
    }

    fn from_file_name(name: &str) -> Option<Self> {
        let (_, extension) = name.rsplit_once('.')?;
        match extension.to_ascii_lowercase().as_str() {
            "txt" | "text" => Some(SourceType::Text),
            "md" | "markdown" => Some(SourceType::Markdown),
            "html" | "htm" | "xhtml" => Some(SourceType::Html),
            "pdf" => Some(SourceType::Pdf),
            _ => None,
        }
    }
}

/// Every PDF starts with this (a file that does not is not a PDF, whatever it is called).
const PDF_MAGIC: &[u8] = b"%PDF-";

/// Decides what an upload is: the explicit `content_type` wins, then the PDF signature
/// (browsers often send `application/octet-stream`), then the part's MIME type, then the file
/// name's extension; plain text when nothing says otherwise.
pub fn detect(
    declared: Option<&str>,
    mime: Option<&str>,
    file_name: Option<&str>,
    bytes: &[u8],
) -> KnowledgeResult<SourceType> {
    if let Some(declared) = declared.filter(|d| !d.trim().is_empty()) {
        return SourceType::parse(declared).ok_or_else(|| {
            KnowledgeError::invalid("content_type", "must be one of text, markdown, html or pdf")
        });
    }
    if bytes.starts_with(PDF_MAGIC) {
        return Ok(SourceType::Pdf);
    }
    Ok(mime
        .and_then(SourceType::from_mime)
        .or_else(|| file_name.and_then(SourceType::from_file_name))
        .unwrap_or(SourceType::Text))
}

/// Control characters tolerated in text (tab, newline, form feed, carriage return); a text
/// with others is a binary file sent as text.
fn is_binary_char(c: char) -> bool {
    c.is_control() && !matches!(c, '\t' | '\n' | '\u{0c}' | '\r')
}

/// The document's text, with line endings normalized and runs of blank lines collapsed.
/// `field` names the request field in errors (`content` or `file`).
pub fn extract(source: SourceType, bytes: &[u8], field: &'static str) -> KnowledgeResult<String> {
    if bytes.is_empty() {
        return Err(KnowledgeError::invalid(field, "is empty"));
    }
    let text = match source {
        SourceType::Text | SourceType::Markdown => utf8_text(bytes, field)?,
        SourceType::Html => html_text(&utf8_text(bytes, field)?, field)?,
        SourceType::Pdf => pdf_text(bytes, field)?,
    };
    finish(source, &text, field)
}

/// Extracted text, normalized; refused when nothing is left.
pub fn finish(source: SourceType, text: &str, field: &'static str) -> KnowledgeResult<String> {
    let text = normalize(text);
    if text.trim().is_empty() {
        let reason = match source {
            SourceType::Pdf => "has no text (a scanned PDF needs OCR first)",
            _ => "has no text",
        };
        return Err(KnowledgeError::invalid(field, reason));
    }
    Ok(text)
}

fn utf8_text(bytes: &[u8], field: &'static str) -> KnowledgeResult<String> {
    let text = std::str::from_utf8(bytes).map_err(|_| {
        KnowledgeError::invalid(field, "is not UTF-8 text (binary files must be PDF)")
    })?;
    if text.chars().any(is_binary_char) {
        return Err(KnowledgeError::invalid(
            field,
            "looks like a binary file, not text",
        ));
    }
    Ok(text.strip_prefix('\u{feff}').unwrap_or(text).to_string())
}

/// Wide enough that html2text never wraps a paragraph's lines (the chunker re-joins them
/// anyway, but short lines would look like separate paragraphs in excerpts).
const HTML_RENDER_WIDTH: usize = 10_000;

fn html_text(html: &str, field: &'static str) -> KnowledgeResult<String> {
    html2text::config::plain_no_decorate()
        .link_footnotes(false)
        .string_from_read(html.as_bytes(), HTML_RENDER_WIDTH)
        .map_err(|e| KnowledgeError::invalid(field, format!("is not readable HTML: {e}")))
}

/// Whether `bytes` start like a PDF (checked before a child is started for them).
pub fn check_pdf(bytes: &[u8], field: &'static str) -> KnowledgeResult<()> {
    if bytes.starts_with(PDF_MAGIC) {
        Ok(())
    } else {
        Err(KnowledgeError::invalid(field, "is not a PDF file"))
    }
}

fn pdf_text(bytes: &[u8], field: &'static str) -> KnowledgeResult<String> {
    check_pdf(bytes, field)?;
    pdf_text_in_process(bytes).map_err(|reason| KnowledgeError::invalid(field, reason))
}

/// Parses a PDF in this process. The server never calls it on an upload: uploads go through
/// the limited child process (`extract_child`), which calls this.
pub fn pdf_text_in_process(bytes: &[u8]) -> Result<String, String> {
    // PDF parsers are large and meet hostile input: a panic on a corrupt file must become a
    // refusal, not a crash.
    let parsed = std::panic::catch_unwind(|| pdf_extract::extract_text_from_mem(bytes));
    match parsed {
        Ok(Ok(text)) => Ok(text),
        Ok(Err(e)) => Err(format!("is a corrupt or unreadable PDF: {e}")),
        Err(_) => Err("is a corrupt or unreadable PDF".to_string()),
    }
}

/// `\r\n` → `\n`, trailing spaces dropped, at most one blank line in a row, no NULs.
pub fn normalize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut blank_run = 0usize;
    for line in text.replace("\r\n", "\n").replace('\r', "\n").split('\n') {
        let line = line.trim_end();
        if line.trim().is_empty() {
            blank_run += 1;
            if blank_run == 1 && !out.is_empty() {
                out.push('\n');
            }
            continue;
        }
        blank_run = 0;
        out.push_str(line);
        out.push('\n');
    }
    out.trim_end().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detection_prefers_the_declared_type_then_the_pdf_signature() {
        let pdf = b"%PDF-1.4 ...";
        assert_eq!(
            detect(None, Some("application/octet-stream"), Some("a.bin"), pdf).expect("ok"),
            SourceType::Pdf
        );
        assert_eq!(
            detect(Some("markdown"), None, None, b"# x").expect("ok"),
            SourceType::Markdown
        );
        assert_eq!(
            detect(None, Some("text/html; charset=utf-8"), None, b"<p>x</p>").expect("ok"),
            SourceType::Html
        );
        assert_eq!(
            detect(None, None, Some("faq.MD"), b"# x").expect("ok"),
            SourceType::Markdown
        );
        assert_eq!(
            detect(None, None, None, b"x").expect("ok"),
            SourceType::Text
        );
        assert!(detect(Some("docx"), None, None, b"x").is_err());
    }

    #[test]
    fn text_must_be_utf8_and_not_binary() {
        assert!(extract(SourceType::Text, &[0xff, 0xfe, 0x00, 0x41], "file").is_err());
        assert!(extract(SourceType::Text, b"abc\x00\x01def", "file").is_err());
        assert!(extract(SourceType::Text, b"", "file").is_err());
        assert!(extract(SourceType::Text, b"  \n\n ", "file").is_err());
        let text = extract(
            SourceType::Text,
            "\u{feff}Olá\r\n\r\n\r\n\r\nmundo  ".as_bytes(),
            "file",
        )
        .expect("text");
        assert_eq!(text, "Olá\n\nmundo");
    }

    #[test]
    fn html_becomes_text_with_markdown_headings() {
        let html = "<html><head><title>t</title><script>var x = 1;</script></head><body>\
            <h1>Política de trocas</h1><p>Trocas em até <b>30 dias</b>.</p>\
            <h2>Prazo</h2><p>Veja <a href=\"https://x.test\">o site</a>.</p></body></html>";
        let text = extract(SourceType::Html, html.as_bytes(), "file").expect("text");
        assert!(text.contains("# Política de trocas"), "{text}");
        assert!(text.contains("## Prazo"), "{text}");
        assert!(text.contains("Trocas em até 30 dias."), "{text}");
        assert!(!text.contains("<b>"), "{text}");
        assert!(!text.contains("var x"), "{text}");
    }

    #[test]
    fn corrupt_pdfs_are_bad_input_not_panics() {
        for bytes in [
            &b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF"[..],
            &b"%PDF-"[..],
            &b"%PDF-1.7\n\xff\xfe\x00garbage"[..],
        ] {
            let err = extract(SourceType::Pdf, bytes, "file").expect_err("rejected");
            assert!(
                matches!(err, KnowledgeError::Invalid { field: "file", .. }),
                "{err}"
            );
        }
        let err = extract(SourceType::Pdf, b"not a pdf", "file").expect_err("rejected");
        assert!(err.to_string().contains("not a PDF"), "{err}");
    }
}
