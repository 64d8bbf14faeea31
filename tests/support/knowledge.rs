//! Knowledge-base helpers: uploads (JSON and hand-built multipart) and a minimal PDF writer,
//! so tests exercise the real extraction path without shipping binary fixtures.

use reqwest::StatusCode;
use serde_json::{json, Value};

use super::app::{Session, TestApp};

/// Uploads a JSON document; returns status and body.
pub async fn upload_json(app: &TestApp, session: &Session, body: Value) -> (StatusCode, Value) {
    app.post("/api/v1/knowledge/documents", &session.token, &body)
        .await
}

/// Uploads a text document and asserts it was stored; returns its id.
pub async fn upload_text(app: &TestApp, session: &Session, title: &str, content: &str) -> String {
    let (status, body) =
        upload_json(app, session, json!({"title": title, "content": content})).await;
    assert_eq!(status, StatusCode::CREATED, "upload {title}: {body}");
    body["id"].as_str().expect("id").to_string()
}

/// One part of a multipart body.
pub struct Part<'a> {
    pub name: &'a str,
    pub file_name: Option<&'a str>,
    pub content_type: Option<&'a str>,
    pub bytes: Vec<u8>,
}

impl<'a> Part<'a> {
    pub fn field(name: &'a str, value: &str) -> Self {
        Part {
            name,
            file_name: None,
            content_type: None,
            bytes: value.as_bytes().to_vec(),
        }
    }

    pub fn file(file_name: &'a str, content_type: &'a str, bytes: Vec<u8>) -> Self {
        Part {
            name: "file",
            file_name: Some(file_name),
            content_type: Some(content_type),
            bytes,
        }
    }
}

const BOUNDARY: &str = "atende-test-boundary-7MA4YWxkTrZu0gW";

/// A `multipart/form-data` body (RFC 7578) and its content type.
pub fn multipart(parts: &[Part<'_>]) -> (String, Vec<u8>) {
    let mut body = Vec::new();
    for part in parts {
        body.extend_from_slice(format!("--{BOUNDARY}\r\n").as_bytes());
        let mut disposition = format!("Content-Disposition: form-data; name=\"{}\"", part.name);
        if let Some(file_name) = part.file_name {
            disposition.push_str(&format!("; filename=\"{file_name}\""));
        }
        body.extend_from_slice(disposition.as_bytes());
        body.extend_from_slice(b"\r\n");
        if let Some(content_type) = part.content_type {
            body.extend_from_slice(format!("Content-Type: {content_type}\r\n").as_bytes());
        }
        body.extend_from_slice(b"\r\n");
        body.extend_from_slice(&part.bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={BOUNDARY}"), body)
}

/// Posts a multipart upload; returns status and body.
pub async fn upload_multipart(
    app: &TestApp,
    session: &Session,
    parts: &[Part<'_>],
) -> (StatusCode, Value) {
    let (content_type, body) = multipart(parts);
    let response = app
        .http
        .post(app.url("/api/v1/knowledge/documents"))
        .bearer_auth(&session.token)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .expect("upload sent");
    let status = response.status();
    let json = response.json().await.unwrap_or(Value::Null);
    (status, json)
}

/// `POST /knowledge/search`; returns status and body.
pub async fn search(app: &TestApp, session: &Session, body: Value) -> (StatusCode, Value) {
    app.post("/api/v1/knowledge/search", &session.token, &body)
        .await
}

/// Titles of the results of a search that must succeed, best first.
pub async fn titles(app: &TestApp, session: &Session, body: Value) -> Vec<String> {
    let (status, found) = search(app, session, body).await;
    assert_eq!(status, StatusCode::OK, "{found}");
    found["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| r["title"].as_str().expect("title").to_string())
        .collect()
}

/// A one-page PDF with `lines` in Helvetica (WinAnsi: Latin-1 accents allowed), with a
/// correct cross-reference table. No lines: a PDF without text.
pub fn pdf(lines: &[&str]) -> Vec<u8> {
    let mut content = Vec::new();
    if !lines.is_empty() {
        content.extend_from_slice(b"BT /F1 12 Tf 72 720 Td 16 TL\n");
        for line in lines {
            content.push(b'(');
            for c in line.chars() {
                let code = u32::from(c);
                match c {
                    '(' | ')' | '\\' => {
                        content.push(b'\\');
                        content.push(c as u8);
                    }
                    _ if code < 0x80 => content.push(code as u8),
                    // WinAnsiEncoding agrees with Latin-1 for the accented letters.
                    _ if code <= 0xff => {
                        content.extend_from_slice(format!("\\{code:03o}").as_bytes())
                    }
                    _ => content.push(b'?'),
                }
            }
            content.extend_from_slice(b") Tj T*\n");
        }
        content.extend_from_slice(b"ET\n");
    }
    let objects: Vec<Vec<u8>> = vec![
        b"<< /Type /Catalog /Pages 2 0 R >>".to_vec(),
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_vec(),
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>".to_vec(),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>".to_vec(),
        [
            format!("<< /Length {} >>\nstream\n", content.len()).into_bytes(),
            content,
            b"\nendstream".to_vec(),
        ]
        .concat(),
    ];
    let mut out = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n".to_vec();
    let mut offsets = Vec::new();
    for (i, object) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n", i + 1).as_bytes());
        out.extend_from_slice(object);
        out.extend_from_slice(b"\nendobj\n");
    }
    let xref = out.len();
    out.extend_from_slice(format!("xref\n0 {}\n", objects.len() + 1).as_bytes());
    out.extend_from_slice(b"0000000000 65535 f \n");
    for offset in offsets {
        out.extend_from_slice(format!("{offset:010} 00000 n \n").as_bytes());
    }
    out.extend_from_slice(
        format!(
            "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
            objects.len() + 1
        )
        .as_bytes(),
    );
    out
}
