//! The agent set-up wizard: four steps, each validated on its own and saved only after the
//! ones before it (1: name, template and niche; 2: personality and tone, from which the
//! system prompt is generated; 3: custom fields to collect; 4: integrations), then publish.
//! Pure rules: the API stores the state in `ai_agents.wizard` and applies what it implies.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::agent::{AgentType, InvalidField};

pub const STEPS: u8 = 4;
pub const MAX_NICHE_CHARS: usize = 100;
pub const MAX_TRAITS: usize = 5;
pub const MAX_INSTRUCTIONS_CHARS: usize = 4000;
pub const MAX_CUSTOM_FIELDS: usize = 30;
pub const MAX_FIELD_KEY_CHARS: usize = 50;
pub const MAX_FIELD_LABEL_CHARS: usize = 100;
pub const MAX_OPTIONS: usize = 50;
pub const MAX_INTEGRATIONS: usize = 20;
pub const MAX_SLUG_CHARS: usize = 48;

fn invalid<T>(field: &'static str, reason: &'static str) -> Result<T, InvalidField> {
    Err(InvalidField::new(field, reason))
}

fn bounded(
    field: &'static str,
    raw: &str,
    max: usize,
    too_long: &'static str,
) -> Result<String, InvalidField> {
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return invalid(field, "must not be empty");
    }
    if trimmed.chars().count() > max {
        return invalid(field, too_long);
    }
    Ok(trimmed.to_string())
}

/// Step 1: who the agent is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Step1 {
    pub name: String,
    /// The template the agent starts from: SDR, CS, CLOSER, SUPPORT or CUSTOM.
    pub template: AgentType,
    /// The business it serves ("clínica odontológica", "e-commerce de moda" …).
    pub niche: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub emoji: String,
}

impl Step1 {
    pub fn validated(mut self) -> Result<Self, InvalidField> {
        self.name = bounded("name", &self.name, 200, "must be at most 200 characters")?;
        self.niche = bounded(
            "niche",
            &self.niche,
            MAX_NICHE_CHARS,
            "must be at most 100 characters",
        )?;
        if self.description.chars().count() > super::agent::MAX_DESCRIPTION_CHARS {
            return invalid("description", "must be at most 2000 characters");
        }
        self.emoji = self.emoji.trim().to_string();
        if self.emoji.chars().count() > super::agent::MAX_EMOJI_CHARS {
            return invalid("emoji", "must be at most 32 characters");
        }
        Ok(self)
    }
}

/// Personality traits the prompt generator knows how to describe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Trait {
    Friendly,
    Professional,
    Empathetic,
    Enthusiastic,
    Consultative,
    Direct,
    Patient,
    Persuasive,
}

impl Trait {
    fn describe(self, language: Language) -> &'static str {
        match (language, self) {
            (Language::PtBr, Trait::Friendly) => "simpático e acolhedor",
            (Language::PtBr, Trait::Professional) => "profissional e preciso",
            (Language::PtBr, Trait::Empathetic) => "empático, reconhecendo o sentimento do cliente",
            (Language::PtBr, Trait::Enthusiastic) => "entusiasmado, sem exageros",
            (Language::PtBr, Trait::Consultative) => {
                "consultivo: entende a necessidade antes de sugerir"
            }
            (Language::PtBr, Trait::Direct) => "direto e objetivo",
            (Language::PtBr, Trait::Patient) => "paciente, explicando quantas vezes for preciso",
            (Language::PtBr, Trait::Persuasive) => "persuasivo, com argumentos honestos",
            (Language::En, Trait::Friendly) => "friendly and welcoming",
            (Language::En, Trait::Professional) => "professional and precise",
            (Language::En, Trait::Empathetic) => "empathetic, acknowledging how the customer feels",
            (Language::En, Trait::Enthusiastic) => "enthusiastic without overdoing it",
            (Language::En, Trait::Consultative) => {
                "consultative: understands the need before suggesting"
            }
            (Language::En, Trait::Direct) => "direct and to the point",
            (Language::En, Trait::Patient) => "patient, explaining as often as needed",
            (Language::En, Trait::Persuasive) => "persuasive, with honest arguments",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Tone {
    Formal,
    Neutral,
    Informal,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum Language {
    #[default]
    #[serde(rename = "pt-BR")]
    PtBr,
    #[serde(rename = "en")]
    En,
}

/// Step 2: how the agent speaks; the system prompt is generated from it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Step2 {
    /// 1 to 5 of friendly, professional, empathetic, enthusiastic, consultative, direct,
    /// patient, persuasive.
    pub personality: Vec<Trait>,
    pub tone: Tone,
    /// Language of the generated prompt and of the agent's answers; default pt-BR.
    #[serde(default)]
    pub language: Language,
    /// Added to the generated prompt as written.
    #[serde(default)]
    pub instructions: String,
}

impl Step2 {
    pub fn validated(mut self) -> Result<Self, InvalidField> {
        if self.personality.is_empty() {
            return invalid("personality", "must name at least one trait");
        }
        let mut traits = Vec::with_capacity(self.personality.len());
        for t in self.personality {
            if !traits.contains(&t) {
                traits.push(t);
            }
        }
        if traits.len() > MAX_TRAITS {
            return invalid("personality", "must name at most 5 traits");
        }
        self.personality = traits;
        self.instructions = self.instructions.trim().to_string();
        if self.instructions.chars().count() > MAX_INSTRUCTIONS_CHARS {
            return invalid("instructions", "must be at most 4000 characters");
        }
        Ok(self)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FieldType {
    Text,
    Number,
    Email,
    Phone,
    Date,
    Select,
}

/// A piece of information the agent should collect from the customer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomField {
    /// `[a-z][a-z0-9_]*`, unique in the agent.
    pub key: String,
    pub label: String,
    #[serde(rename = "type")]
    pub field_type: FieldType,
    #[serde(default)]
    pub required: bool,
    /// The choices of a `select` (and only of a select).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<String>,
}

/// Step 3: what to collect.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Step3 {
    #[serde(default)]
    pub custom_fields: Vec<CustomField>,
}

fn is_key(key: &str) -> bool {
    let mut chars = key.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && key.len() <= MAX_FIELD_KEY_CHARS
}

/// One custom field of step 3, trimmed in place; `keys` holds the keys seen before it.
fn check_custom_field(field: &mut CustomField, keys: &mut Vec<String>) -> Result<(), InvalidField> {
    field.key = field.key.trim().to_string();
    if !is_key(&field.key) {
        return invalid(
            "custom_fields.key",
            "must be lower-case letters, digits and _ (starting with a letter), at most 50",
        );
    }
    if keys.contains(&field.key) {
        return invalid("custom_fields.key", "must be unique");
    }
    keys.push(field.key.clone());
    field.label = bounded(
        "custom_fields.label",
        &field.label,
        MAX_FIELD_LABEL_CHARS,
        "must be at most 100 characters",
    )?;
    match (field.field_type, field.options.len()) {
        (FieldType::Select, 0) => {
            return invalid("custom_fields.options", "a select needs options")
        }
        (FieldType::Select, n) if n > MAX_OPTIONS => {
            return invalid("custom_fields.options", "must have at most 50 options")
        }
        (FieldType::Select, _) => {
            for option in &mut field.options {
                *option = bounded(
                    "custom_fields.options",
                    option,
                    MAX_FIELD_LABEL_CHARS,
                    "must be at most 100 characters",
                )?;
            }
        }
        (_, 0) => {}
        _ => return invalid("custom_fields.options", "only a select has options"),
    }
    Ok(())
}

impl Step3 {
    pub fn validated(mut self) -> Result<Self, InvalidField> {
        if self.custom_fields.len() > MAX_CUSTOM_FIELDS {
            return invalid("custom_fields", "must have at most 30 fields");
        }
        let mut keys: Vec<String> = Vec::new();
        for (i, field) in self.custom_fields.iter_mut().enumerate() {
            check_custom_field(field, &mut keys).map_err(|e| e.at(i))?;
        }
        Ok(self)
    }
}

/// Step 4: where the agent answers. Each integration gets the agent as its default when it
/// is published.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Step4 {
    #[serde(default)]
    pub integration_ids: Vec<String>,
    /// Sent when the agent takes a new conversation.
    #[serde(default)]
    pub welcome_message: Option<String>,
}

impl Step4 {
    pub fn validated(mut self) -> Result<Self, InvalidField> {
        if self.integration_ids.len() > MAX_INTEGRATIONS {
            return invalid("integration_ids", "must have at most 20 integrations");
        }
        let mut ids: Vec<String> = Vec::with_capacity(self.integration_ids.len());
        for raw in &self.integration_ids {
            let Ok(id) = uuid::Uuid::parse_str(raw.trim()) else {
                return invalid("integration_ids", "must be integration ids");
            };
            let id = id.to_string();
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
        self.integration_ids = ids;
        if let Some(message) = &self.welcome_message {
            let message = message.trim();
            if message.is_empty() {
                return invalid("welcome_message", "must not be blank; use null for none");
            }
            if message.chars().count() > super::agent::MAX_WELCOME_MESSAGE_CHARS {
                return invalid("welcome_message", "must be at most 4000 characters");
            }
            self.welcome_message = Some(message.to_string());
        }
        Ok(self)
    }
}

/// What the wizard has collected (`ai_agents.wizard`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(default)]
pub struct WizardState {
    pub step_1: Option<Step1>,
    pub step_2: Option<Step2>,
    pub step_3: Option<Step3>,
    pub step_4: Option<Step4>,
    pub published_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl WizardState {
    pub fn has(&self, step: u8) -> bool {
        match step {
            1 => self.step_1.is_some(),
            2 => self.step_2.is_some(),
            3 => self.step_3.is_some(),
            4 => self.step_4.is_some(),
            _ => false,
        }
    }

    pub fn completed(&self) -> Vec<u8> {
        (1..=STEPS).filter(|s| self.has(*s)).collect()
    }

    /// The first step not saved yet; `None` when all are.
    pub fn next_step(&self) -> Option<u8> {
        (1..=STEPS).find(|s| !self.has(*s))
    }

    /// Steps must be saved in order; an earlier one may be saved again at any time.
    pub fn missing_before(&self, step: u8) -> Vec<u8> {
        (1..step).filter(|s| !self.has(*s)).collect()
    }

    /// The system prompt of steps 1 to 3, once steps 1 and 2 are saved.
    pub fn system_prompt(&self) -> Option<String> {
        Some(generate_prompt(
            self.step_1.as_ref()?,
            self.step_2.as_ref()?,
            self.step_3.as_ref(),
        ))
    }
}

fn role(template: AgentType, language: Language) -> &'static str {
    match (language, template) {
        (Language::PtBr, AgentType::Sdr) => {
            "um pré-vendedor (SDR): qualifica o interesse do cliente e agenda o próximo passo"
        }
        (Language::PtBr, AgentType::Cs) => {
            "um agente de sucesso do cliente: garante que o cliente tire o melhor proveito do que comprou"
        }
        (Language::PtBr, AgentType::Closer) => {
            "um vendedor: esclarece objeções e conduz o cliente ao fechamento"
        }
        (Language::PtBr, AgentType::Support) => {
            "um agente de suporte: resolve dúvidas e problemas do cliente"
        }
        (Language::PtBr, AgentType::Custom) => "um assistente de atendimento",
        (Language::En, AgentType::Sdr) => {
            "a sales development representative: qualifies the customer's interest and books the next step"
        }
        (Language::En, AgentType::Cs) => {
            "a customer success agent: makes sure customers get the most out of what they bought"
        }
        (Language::En, AgentType::Closer) => {
            "a sales closer: answers objections and leads the customer to a decision"
        }
        (Language::En, AgentType::Support) => {
            "a support agent: solves the customer's questions and problems"
        }
        (Language::En, AgentType::Custom) => "a customer service assistant",
    }
}

fn field_type_name(t: FieldType, language: Language) -> &'static str {
    match (language, t) {
        (Language::PtBr, FieldType::Text) => "texto",
        (Language::PtBr, FieldType::Number) => "número",
        (Language::PtBr, FieldType::Email) => "e-mail",
        (Language::PtBr, FieldType::Phone) => "telefone",
        (Language::PtBr, FieldType::Date) => "data",
        (Language::PtBr, FieldType::Select) => "uma das opções",
        (Language::En, FieldType::Text) => "text",
        (Language::En, FieldType::Number) => "number",
        (Language::En, FieldType::Email) => "e-mail",
        (Language::En, FieldType::Phone) => "phone",
        (Language::En, FieldType::Date) => "date",
        (Language::En, FieldType::Select) => "one of the options",
    }
}

/// The system prompt an agent gets from the wizard: identity and role (step 1), personality
/// and tone (step 2), the information to collect (step 3) and the rules every agent follows
/// (never invent, hand over to a human when stuck).
pub fn generate_prompt(step1: &Step1, step2: &Step2, step3: Option<&Step3>) -> String {
    let lang = step2.language;
    let traits: Vec<&str> = step2.personality.iter().map(|t| t.describe(lang)).collect();
    let mut prompt = String::new();
    match lang {
        Language::PtBr => {
            prompt.push_str(&format!(
                "Você é {}, {}, atendendo clientes de {}.\n",
                step1.name,
                role(step1.template, lang),
                step1.niche
            ));
            if !step1.description.trim().is_empty() {
                prompt.push_str(&format!("Sobre você: {}\n", step1.description.trim()));
            }
            prompt.push_str(&format!("Personalidade: {}.\n", traits.join("; ")));
            prompt.push_str(match step2.tone {
                Tone::Formal => "Tom: formal; trate o cliente por \"senhor\" ou \"senhora\".\n",
                Tone::Neutral => "Tom: cordial e neutro.\n",
                Tone::Informal => "Tom: informal e próximo; trate o cliente por \"você\".\n",
            });
            prompt.push_str("Responda sempre em português do Brasil, com mensagens curtas, próprias de um chat.\n");
        }
        Language::En => {
            prompt.push_str(&format!(
                "You are {}, {}, serving customers of {}.\n",
                step1.name,
                role(step1.template, lang),
                step1.niche
            ));
            if !step1.description.trim().is_empty() {
                prompt.push_str(&format!("About you: {}\n", step1.description.trim()));
            }
            prompt.push_str(&format!("Personality: {}.\n", traits.join("; ")));
            prompt.push_str(match step2.tone {
                Tone::Formal => "Tone: formal and courteous.\n",
                Tone::Neutral => "Tone: cordial and neutral.\n",
                Tone::Informal => "Tone: informal and warm.\n",
            });
            prompt.push_str("Always answer in English, in short chat-sized messages.\n");
        }
    }
    let fields = step3.map(|s| s.custom_fields.as_slice()).unwrap_or(&[]);
    if !fields.is_empty() {
        prompt.push_str(match lang {
            Language::PtBr => {
                "\nColete estas informações do cliente ao longo da conversa, sem interrogatório:\n"
            }
            Language::En => {
                "\nCollect this information from the customer along the conversation, without interrogating:\n"
            }
        });
        for field in fields {
            let kind = field_type_name(field.field_type, lang);
            let required = match (lang, field.required) {
                (Language::PtBr, true) => " (obrigatório)",
                (Language::En, true) => " (required)",
                (_, false) => "",
            };
            let options = if field.options.is_empty() {
                String::new()
            } else {
                format!(": {}", field.options.join(", "))
            };
            prompt.push_str(&format!(
                "- {} [{}] — {}{}{}\n",
                field.label, field.key, kind, options, required
            ));
        }
    }
    prompt.push_str(match lang {
        Language::PtBr => {
            "\nRegras:\n- Nunca invente informações; se não souber, diga que vai verificar.\n\
             - Se o cliente pedir um humano, ou se você não conseguir ajudar, ofereça transferir para um atendente.\n\
             - Não peça dados sensíveis (senhas, números completos de cartão).\n"
        }
        Language::En => {
            "\nRules:\n- Never make information up; if you do not know, say you will check.\n\
             - If the customer asks for a human, or you cannot help, offer to hand over to an agent.\n\
             - Never ask for sensitive data (passwords, full card numbers).\n"
        }
    });
    if !step2.instructions.is_empty() {
        prompt.push_str(match lang {
            Language::PtBr => "\nInstruções adicionais:\n",
            Language::En => "\nAdditional instructions:\n",
        });
        prompt.push_str(&step2.instructions);
        prompt.push('\n');
    }
    prompt
}

/// A URL slug from a name: ASCII lower case (Portuguese and Spanish accents folded), words
/// joined by `-`, at most 48 characters; `agente` when nothing is left.
pub fn slugify(name: &str) -> String {
    let mut slug = String::with_capacity(name.len());
    let mut dash = false;
    for c in name.chars().flat_map(char::to_lowercase) {
        let folded = match c {
            'á' | 'à' | 'â' | 'ã' | 'ä' | 'å' => 'a',
            'é' | 'è' | 'ê' | 'ë' => 'e',
            'í' | 'ì' | 'î' | 'ï' => 'i',
            'ó' | 'ò' | 'ô' | 'õ' | 'ö' => 'o',
            'ú' | 'ù' | 'û' | 'ü' => 'u',
            'ç' => 'c',
            'ñ' => 'n',
            other => other,
        };
        if folded.is_ascii_alphanumeric() {
            if dash && !slug.is_empty() {
                slug.push('-');
            }
            dash = false;
            slug.push(folded);
        } else {
            dash = true;
        }
        if slug.len() >= MAX_SLUG_CHARS {
            break;
        }
    }
    // Only ASCII was pushed, so any byte index is a character boundary.
    slug.truncate(MAX_SLUG_CHARS);
    let slug = slug.trim_end_matches('-').to_string();
    if slug.is_empty() {
        "agente".into()
    } else {
        slug
    }
}

/// The slugs to try in order: the name's, then numbered, then with a random suffix.
pub fn slug_candidates(base: &str) -> Vec<String> {
    let mut candidates = vec![base.to_string()];
    candidates.extend((2..=5).map(|n| format!("{base}-{n}")));
    let random = uuid::Uuid::new_v4().simple().to_string();
    candidates.push(format!("{base}-{}", &random[..8]));
    candidates
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step1() -> Step1 {
        Step1 {
            name: "Sofia".into(),
            template: AgentType::Support,
            niche: "clínica odontológica".into(),
            description: String::new(),
            emoji: "🦷".into(),
        }
    }

    fn step2() -> Step2 {
        Step2 {
            personality: vec![Trait::Friendly, Trait::Patient],
            tone: Tone::Informal,
            language: Language::PtBr,
            instructions: "Horário: seg a sex, 8h às 18h.".into(),
        }
    }

    #[test]
    fn the_prompt_reflects_every_step() {
        let step3 = Step3 {
            custom_fields: vec![
                CustomField {
                    key: "convenio".into(),
                    label: "Convênio".into(),
                    field_type: FieldType::Select,
                    required: true,
                    options: vec!["Amil".into(), "Particular".into()],
                },
                CustomField {
                    key: "email".into(),
                    label: "E-mail".into(),
                    field_type: FieldType::Email,
                    required: false,
                    options: vec![],
                },
            ],
        };
        let prompt = generate_prompt(&step1(), &step2(), Some(&step3));
        assert!(
            prompt.starts_with("Você é Sofia, um agente de suporte"),
            "{prompt}"
        );
        assert!(prompt.contains("clínica odontológica"));
        assert!(prompt.contains("simpático e acolhedor; paciente"));
        assert!(prompt.contains("Tom: informal"));
        assert!(prompt
            .contains("- Convênio [convenio] — uma das opções: Amil, Particular (obrigatório)"));
        assert!(prompt.contains("- E-mail [email] — e-mail\n"));
        assert!(prompt.contains("Nunca invente"));
        assert!(prompt.ends_with("Horário: seg a sex, 8h às 18h.\n"));
        let english = generate_prompt(
            &step1(),
            &Step2 {
                language: Language::En,
                tone: Tone::Formal,
                ..step2()
            },
            None,
        );
        assert!(
            english.starts_with("You are Sofia, a support agent"),
            "{english}"
        );
        assert!(english.contains("Tone: formal"));
    }

    #[test]
    fn steps_validate_their_fields() {
        assert_eq!(
            Step1 {
                niche: " ".into(),
                ..step1()
            }
            .validated()
            .map_err(|e| e.field),
            Err("niche")
        );
        let traits = Step2 {
            personality: vec![Trait::Friendly, Trait::Friendly],
            ..step2()
        }
        .validated()
        .expect("valid");
        assert_eq!(traits.personality, vec![Trait::Friendly]);
        assert!(Step2 {
            personality: vec![],
            ..step2()
        }
        .validated()
        .is_err());
        let field = |key: &str, t: FieldType, options: Vec<String>| CustomField {
            key: key.into(),
            label: "L".into(),
            field_type: t,
            required: false,
            options,
        };
        for (fields, bad) in [
            (
                vec![field("Nome", FieldType::Text, vec![])],
                "custom_fields[0].key",
            ),
            (
                vec![
                    field("a", FieldType::Text, vec![]),
                    field("a", FieldType::Text, vec![]),
                ],
                "custom_fields[1].key",
            ),
            (
                vec![
                    field("a", FieldType::Text, vec![]),
                    field("b", FieldType::Select, vec![]),
                ],
                "custom_fields[1].options",
            ),
            (
                vec![field("a", FieldType::Text, vec!["x".into()])],
                "custom_fields[0].options",
            ),
        ] {
            assert_eq!(
                Step3 {
                    custom_fields: fields
                }
                .validated()
                .map_err(|e| e.path()),
                Err(bad.to_string())
            );
        }
        assert_eq!(
            Step3 {
                custom_fields: (0..31)
                    .map(|i| field(&format!("f{i}"), FieldType::Text, vec![]))
                    .collect()
            }
            .validated()
            .map_err(|e| e.path()),
            Err("custom_fields".to_string()),
            "a list-wide error names the list, not an item"
        );
        assert!(Step4 {
            integration_ids: vec!["nope".into()],
            welcome_message: None
        }
        .validated()
        .is_err());
    }

    #[test]
    fn steps_go_in_order() {
        let mut state = WizardState::default();
        assert_eq!(state.next_step(), Some(1));
        assert_eq!(state.missing_before(3), vec![1, 2]);
        state.step_1 = Some(step1());
        assert_eq!(state.system_prompt(), None);
        state.step_2 = Some(step2());
        assert!(state.system_prompt().is_some());
        assert_eq!(state.missing_before(3), Vec::<u8>::new());
        assert_eq!(state.completed(), vec![1, 2]);
        assert_eq!(state.next_step(), Some(3));
    }

    #[test]
    fn slugs_are_ascii_and_bounded() {
        assert_eq!(
            slugify("Sofia — Clínica São João"),
            "sofia-clinica-sao-joao"
        );
        assert_eq!(slugify("  ¡Atenção!  "), "atencao");
        assert_eq!(slugify("🦷"), "agente");
        assert!(slugify(&"palavra ".repeat(30)).len() <= MAX_SLUG_CHARS);
        let candidates = slug_candidates("sofia");
        assert_eq!(candidates[0], "sofia");
        assert_eq!(candidates[1], "sofia-2");
        assert_eq!(candidates.len(), 6);
    }
}
