//! `cargo bench --bench knowledge_search`: the knowledge base's search index on its own.
//!
//! Indexes 10,000 synthetic Portuguese FAQ chunks (tenant-wide and agent-scoped, over several
//! tenants) into the same in-memory tantivy index the server uses, then runs ~1,000 queries
//! (questions as customers type them: accents or not, inflected verbs) and reports indexing
//! throughput and search latency percentiles. No network, no database: the index is what is
//! measured (uploads add extraction and a database transaction around it).
//!
//! Sizes: `ATENDE_BENCH_CHUNKS` (10000), `ATENDE_BENCH_QUERIES` (1000),
//! `ATENDE_BENCH_DOC_CHUNKS` (chunks per document in the per-upload phase, 10).

use std::time::{Duration, Instant};

use atende::config::Settings;
use atende::domain::{AgentId, TenantId};
use atende::knowledge::index::IndexedChunk;
use atende::knowledge::{KnowledgeIndex, Passage, Scope, SearchRequest};

const HELP: &str = "\
knowledge_search — benchmark of the knowledge base's BM25 index (in memory, no network)

usage: [VAR=value ...] cargo bench --bench knowledge_search [-- --help]

  ATENDE_BENCH_CHUNKS       chunks indexed                        [10000]
  ATENDE_BENCH_QUERIES      searches timed                        [1000]
  ATENDE_BENCH_DOC_CHUNKS   chunks per upload in the upload phase [10]
";

const TENANTS: usize = 4;
const AGENTS_PER_TENANT: usize = 3;
/// Results asked per search, as the prompt asks (`knowledge.prompt_passages` default).
const LIMIT: usize = 3;

const TOPICS: &[(&str, &str)] = &[
    ("Trocas", "Trocas de produtos podem ser feitas em até 30 dias com a nota fiscal e a embalagem original."),
    ("Devoluções", "A devolução do valor é feita no mesmo meio de pagamento em até 10 dias úteis."),
    ("Entrega", "Entregamos em todo o Brasil; capitais recebem em até 5 dias úteis."),
    ("Rastreamento", "O código de rastreio chega por e-mail quando o pedido sai do depósito."),
    ("Pagamento", "Aceitamos cartão de crédito em até 12 vezes, boleto e Pix com desconto."),
    ("Garantia", "Todo produto tem garantia legal de 90 dias contra defeitos de fabricação."),
    ("Horário", "Atendemos de segunda a sexta das 8h às 18h e aos sábados das 9h às 13h."),
    ("Cadastro", "Para alterar seu endereço ou telefone, acesse Minha Conta no site."),
    ("Cupom", "Cupons de desconto valem uma vez por cliente e não se acumulam."),
    ("Assinatura", "A assinatura pode ser cancelada a qualquer momento sem multa."),
];

const FILLER: &[&str] = &[
    "cliente",
    "pedido",
    "loja",
    "produto",
    "atendimento",
    "site",
    "aplicativo",
    "prazo",
    "valor",
    "nota",
    "fiscal",
    "frete",
    "estoque",
    "cor",
    "tamanho",
    "modelo",
    "marca",
    "caixa",
    "etiqueta",
    "manual",
    "suporte",
    "técnico",
    "peça",
    "reposição",
    "região",
];

const QUESTIONS: &[&str] = &[
    "como faço para trocar um produto?",
    "quero trôcar o tamanho da camisa",
    "qual o prazo de entrega para capitais?",
    "onde está meu pedido? código de rastreio",
    "posso pagar com pix?",
    "o produto veio com defeito, tem garantia?",
    "vocês abrem no sábado?",
    "como altero meu endereço de cadastro",
    "o cupom de desconto não funcionou",
    "quero cancelar minha assinatura",
    "devolução do dinheiro demora quanto?",
    "parcelamento no cartão de crédito",
];

fn env_usize(name: &str, default: usize) -> Result<usize, String> {
    match std::env::var(name) {
        Ok(raw) => raw
            .trim()
            .parse()
            .map_err(|_| format!("{name} must be a whole number, not {raw:?}")),
        Err(_) => Ok(default),
    }
}

/// Deterministic pseudo-random numbers (no dependency, same corpus every run).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        usize::try_from(self.0 >> 33).unwrap_or(0)
    }
}

fn corpus(chunks: usize) -> Vec<IndexedChunk> {
    let mut rng = Lcg(42);
    (0..chunks)
        .map(|i| {
            let (topic, text) = TOPICS[i % TOPICS.len()];
            // Every tenant gets every topic (i % TENANTS would pair tenants with topic parity).
            let tenant = (i / TOPICS.len()) % TENANTS;
            let agent = (rng.next() % (AGENTS_PER_TENANT + 1) < AGENTS_PER_TENANT)
                .then(|| format!("agent-{tenant}-{}", rng.next() % AGENTS_PER_TENANT));
            let filler: Vec<&str> = (0..60).map(|_| FILLER[rng.next() % FILLER.len()]).collect();
            IndexedChunk {
                tenant_id: TenantId(format!("tenant-{tenant}")),
                agent_id: agent,
                passage: Passage {
                    document_id: format!("doc-{}", i / 10),
                    chunk_id: format!("chunk-{i:06}"),
                    title: format!("{topic} {}", i / TOPICS.len()),
                    heading: topic.to_string(),
                    content: format!("{text} {}", filler.join(" ")),
                },
            }
        })
        .collect()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * (sorted.len() as f64 - 1.0)).round();
    sorted[(rank as usize).min(sorted.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn run() -> Result<(), String> {
    let chunks = env_usize("ATENDE_BENCH_CHUNKS", 10_000)?;
    let queries = env_usize("ATENDE_BENCH_QUERIES", 1_000)?;
    let per_doc = env_usize("ATENDE_BENCH_DOC_CHUNKS", 10)?.max(1);
    let settings = Settings::load_from(
        std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/config")),
        "bench",
        true,
        &[],
    )
    .map_err(|e| e.to_string())?
    .knowledge;
    let corpus = corpus(chunks);

    // Bulk: everything in one change (what the start-up rebuild does).
    let index = KnowledgeIndex::new(&settings, None).map_err(|e| e.to_string())?;
    let started = Instant::now();
    index.apply(&[], &corpus).map_err(|e| e.to_string())?;
    let bulk = started.elapsed();

    // Per upload: one committed change per document, as uploads arrive.
    let uploads = KnowledgeIndex::new(&settings, None).map_err(|e| e.to_string())?;
    let started = Instant::now();
    for document in corpus.chunks(per_doc) {
        uploads.apply(&[], document).map_err(|e| e.to_string())?;
    }
    let per_upload = started.elapsed();

    let mut latencies = Vec::with_capacity(queries);
    let mut found = 0usize;
    let mut rng = Lcg(7);
    for i in 0..queries {
        let tenant = rng.next() % TENANTS;
        let scope = if i % 2 == 0 {
            Scope::Agent(AgentId(format!(
                "agent-{tenant}-{}",
                rng.next() % AGENTS_PER_TENANT
            )))
        } else {
            Scope::Operator
        };
        let request = SearchRequest {
            tenant: TenantId(format!("tenant-{tenant}")),
            scope,
            query: QUESTIONS[i % QUESTIONS.len()].to_string(),
            limit: LIMIT,
            min_relevance: settings.prompt_min_relevance,
        };
        let started = Instant::now();
        let hits = index.search_blocking(&request).map_err(|e| e.to_string())?;
        latencies.push(started.elapsed());
        found += usize::from(!hits.is_empty());
    }
    latencies.sort();
    let total: Duration = latencies.iter().sum();

    let rate = |d: Duration| chunks as f64 / d.as_secs_f64().max(f64::EPSILON);
    println!(
        "knowledge_search: {} chunks, {} tenants, {queries} queries (limit {LIMIT})",
        index.len(),
        TENANTS
    );
    println!(
        "  index, one change    {:>10.0} chunks/s  ({:.2} s)",
        rate(bulk),
        bulk.as_secs_f64()
    );
    println!(
        "  index, per upload    {:>10.0} chunks/s  ({:.2} s, {} commits of {per_doc} chunks)",
        rate(per_upload),
        per_upload.as_secs_f64(),
        chunks.div_ceil(per_doc)
    );
    println!(
        "  search latency       p50 {:.3} ms  p99 {:.3} ms  max {:.3} ms  mean {:.3} ms",
        ms(percentile(&latencies, 50.0)),
        ms(percentile(&latencies, 99.0)),
        ms(latencies.last().copied().unwrap_or_default()),
        ms(total / u32::try_from(queries.max(1)).unwrap_or(u32::MAX)),
    );
    println!("  queries with results {found}/{queries}");
    println!("  command: cargo bench --bench knowledge_search");
    Ok(())
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        print!("{HELP}");
        return;
    }
    // `cargo test --benches` / nextest list or run bench targets without `--bench`: this is
    // a benchmark, not a test, so say so and succeed without doing the heavy work.
    if args.iter().any(|a| a == "--list") {
        return;
    }
    if !args.iter().any(|a| a == "--bench") {
        println!(
            "knowledge_search: not run in test mode; use `cargo bench --bench knowledge_search`"
        );
        return;
    }
    if let Err(e) = run() {
        eprintln!("knowledge_search: {e}");
        std::process::exit(2);
    }
}
