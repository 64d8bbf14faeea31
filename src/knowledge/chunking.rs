//! Cuts a document's text into chunks for search and prompts. Pure: text in, chunks out.
//!
//! Chunks follow the document's shape: a Markdown heading (`#` … `######`, which HTML
//! headings become too) starts a new section and never shares a chunk with the section
//! before it; inside a section whole paragraphs are packed up to the target size, and only a
//! paragraph longer than that is split (between words). Each chunk after the first of a
//! section starts with the tail of the previous one (the overlap), so a passage that straddles
//! a boundary is still found whole by one of them.

/// Sizes from `[knowledge]` (`chunk_chars`, `chunk_overlap_chars`), in characters.
#[derive(Debug, Clone, Copy)]
pub struct ChunkSizes {
    pub chars: usize,
    pub overlap: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    /// The headings above the chunk, outermost first, joined by " › " (empty before any).
    pub heading: String,
    pub content: String,
}

/// Separator of nested headings in [`Chunk::heading`].
const HEADING_SEPARATOR: &str = " › ";
/// Markdown has six heading levels.
const MAX_HEADING_LEVEL: usize = 6;

/// `## Title` → (2, "Title"); anything else is not a heading.
fn heading(line: &str) -> Option<(usize, &str)> {
    let trimmed = line.trim_start();
    let level = trimmed.chars().take_while(|&c| c == '#').count();
    if level == 0 || level > MAX_HEADING_LEVEL {
        return None;
    }
    let rest = &trimmed[level..];
    if !rest.starts_with([' ', '\t']) {
        return None;
    }
    let title = rest.trim().trim_end_matches('#').trim();
    (!title.is_empty()).then_some((level, title))
}

struct Section {
    heading: String,
    paragraphs: Vec<String>,
}

/// Sections (heading path + paragraphs); blank lines separate paragraphs.
fn sections(text: &str) -> Vec<Section> {
    let mut path: Vec<(usize, String)> = Vec::new();
    let mut out = vec![Section {
        heading: String::new(),
        paragraphs: Vec::new(),
    }];
    let mut paragraph: Vec<&str> = Vec::new();
    let flush = |paragraph: &mut Vec<&str>, out: &mut Vec<Section>| {
        if !paragraph.is_empty() {
            let joined = paragraph.join("\n");
            if let Some(section) = out.last_mut() {
                section.paragraphs.push(joined);
            }
            paragraph.clear();
        }
    };
    for line in text.lines() {
        if let Some((level, title)) = heading(line) {
            flush(&mut paragraph, &mut out);
            path.retain(|(l, _)| *l < level);
            path.push((level, title.to_string()));
            out.push(Section {
                heading: path
                    .iter()
                    .map(|(_, t)| t.as_str())
                    .collect::<Vec<_>>()
                    .join(HEADING_SEPARATOR),
                paragraphs: Vec::new(),
            });
        } else if line.trim().is_empty() {
            flush(&mut paragraph, &mut out);
        } else {
            paragraph.push(line.trim_end());
        }
    }
    flush(&mut paragraph, &mut out);
    out.retain(|s| !s.paragraphs.is_empty());
    out
}

fn char_len(s: &str) -> usize {
    s.chars().count()
}

/// Splits a paragraph longer than `max` characters between words; a single word longer than
/// `max` (a URL, a hash) is cut hard.
fn split_long(paragraph: &str, max: usize) -> Vec<String> {
    let mut pieces = Vec::new();
    let mut current = String::new();
    for word in paragraph.split_whitespace() {
        let mut word = word.to_string();
        while char_len(&word) > max {
            if !current.is_empty() {
                pieces.push(std::mem::take(&mut current));
            }
            let head: String = word.chars().take(max).collect();
            word = word.chars().skip(max).collect();
            pieces.push(head);
        }
        let needed = char_len(&current) + usize::from(!current.is_empty()) + char_len(&word);
        if needed > max && !current.is_empty() {
            pieces.push(std::mem::take(&mut current));
        }
        if !current.is_empty() {
            current.push(' ');
        }
        current.push_str(&word);
    }
    if !current.is_empty() {
        pieces.push(current);
    }
    pieces
}

/// The last `overlap` characters of `text`, starting at a word boundary.
fn tail(text: &str, overlap: usize) -> String {
    let len = char_len(text);
    if overlap == 0 || len == 0 {
        return String::new();
    }
    if len <= overlap {
        return text.to_string();
    }
    let cut: String = text.chars().skip(len - overlap).collect();
    // Drop the partial word the cut landed in (unless the cut is one long word).
    match cut.find(char::is_whitespace) {
        Some(at) if !cut[at..].trim().is_empty() => cut[at..].trim_start().to_string(),
        _ => cut,
    }
}

/// The chunks of `text`, in document order.
pub fn chunk(text: &str, sizes: ChunkSizes) -> Vec<Chunk> {
    let max = sizes.chars.max(1);
    let overlap = sizes.overlap.min(max / 2);
    let mut chunks = Vec::new();
    // Room for new text in a chunk that starts with the overlap and a paragraph break.
    let room = max.saturating_sub(overlap + 2).max(1);
    for section in sections(text) {
        let pieces: Vec<String> = section
            .paragraphs
            .iter()
            .flat_map(|p| {
                if char_len(p) > room {
                    split_long(p, room)
                } else {
                    vec![p.clone()]
                }
            })
            .collect();
        let mut current = String::new();
        for piece in pieces {
            let needed = char_len(&current) + 2 + char_len(&piece);
            if !current.is_empty() && needed > max {
                let carried = tail(&current, overlap);
                chunks.push(Chunk {
                    heading: section.heading.clone(),
                    content: std::mem::replace(&mut current, carried),
                });
            }
            if !current.is_empty() {
                current.push_str("\n\n");
            }
            current.push_str(&piece);
        }
        if !current.trim().is_empty() {
            chunks.push(Chunk {
                heading: section.heading.clone(),
                content: current,
            });
        }
    }
    chunks
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIZES: ChunkSizes = ChunkSizes {
        chars: 120,
        overlap: 30,
    };

    #[test]
    fn headings_start_new_chunks_and_name_them() {
        let text = "Intro sem título.\n\n# Trocas\nTrocas em até 30 dias.\n\n## Prazo\nSete dias para arrependimento.\n\n# Entrega\nEntregamos em todo o Brasil.";
        let chunks = chunk(text, SIZES);
        let headings: Vec<&str> = chunks.iter().map(|c| c.heading.as_str()).collect();
        assert_eq!(headings, vec!["", "Trocas", "Trocas › Prazo", "Entrega"]);
        assert_eq!(chunks[1].content, "Trocas em até 30 dias.");
        assert_eq!(chunks[3].content, "Entregamos em todo o Brasil.");
    }

    #[test]
    fn paragraphs_are_packed_up_to_the_size() {
        let text = "Primeiro parágrafo curto.\n\nSegundo parágrafo curto.\n\nTerceiro.";
        let chunks = chunk(text, SIZES);
        assert_eq!(chunks.len(), 1);
        assert_eq!(
            chunks[0].content,
            "Primeiro parágrafo curto.\n\nSegundo parágrafo curto.\n\nTerceiro."
        );
    }

    #[test]
    fn long_text_is_split_with_overlap_and_nothing_is_lost() {
        let words: Vec<String> = (0..200).map(|i| format!("palavra{i}")).collect();
        let text = words.join(" ");
        let chunks = chunk(&text, SIZES);
        assert!(chunks.len() > 5, "{}", chunks.len());
        for c in &chunks {
            assert!(char_len(&c.content) <= SIZES.chars, "{}", c.content);
        }
        // Every word is in some chunk, and consecutive chunks share words (the overlap).
        for w in &words {
            assert!(
                chunks
                    .iter()
                    .any(|c| c.content.split_whitespace().any(|x| x == w)),
                "{w} lost"
            );
        }
        for pair in chunks.windows(2) {
            let last_word = pair[0].content.split_whitespace().last().expect("word");
            assert!(pair[1].content.contains(last_word), "no overlap: {pair:?}");
        }
    }

    #[test]
    fn huge_words_are_cut_and_accents_are_not_split() {
        let text = "ç".repeat(500);
        let chunks = chunk(&text, SIZES);
        assert!(chunks.iter().all(|c| char_len(&c.content) <= SIZES.chars));
        let total: usize = chunks
            .iter()
            .map(|c| c.content.chars().filter(|&x| x == 'ç').count())
            .sum();
        assert!(total >= 500);
    }

    #[test]
    fn not_headings_and_empty_text() {
        assert!(chunk("", SIZES).is_empty());
        assert!(chunk("\n\n  \n", SIZES).is_empty());
        let chunks = chunk("#hashtag não é título\n####### nem isto", SIZES);
        assert_eq!(chunks.len(), 1);
        assert_eq!(chunks[0].heading, "");
        // A heading with nothing under it makes no chunk.
        assert_eq!(chunk("# Só título", SIZES).len(), 0);
    }
}
