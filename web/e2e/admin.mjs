// Browser tests of the admin screens (concatenated to run.mjs's scenarios): the wizard to a
// published agent whose QR code and public page work, a PDF dropped into the knowledge base
// and answered from by an offline retrieval agent, and field errors shown where they belong.
import assert from "node:assert/strict";
import { copyFileSync } from "node:fs";
import { join } from "node:path";
import jsQR from "jsqr";
import { PDFDocument, StandardFonts } from "pdf-lib";
import { PNG } from "pngjs";
import { repo, screenshot } from "./harness.mjs";
import { REPLY } from "./llm.mjs";

const WAIT = { timeout: 15_000 };
const DESKTOP = { viewport: { width: 1400, height: 900 } };
const PHONE = { viewport: { width: 360, height: 740 }, isMobile: true, hasTouch: true };

/** Saves the scenario's screenshot and, for the README, a copy in docs/. */
async function shot(page, name, docsName) {
  const path = await screenshot(page, name);
  if (docsName && process.env.ATENDE_E2E_DOCS === "1") copyFileSync(path, join(repo, "docs", docsName));
}

/** The text a QR code on the screen encodes, read back from a screenshot of it. */
async function readQr(locator) {
  const png = PNG.sync.read(await locator.screenshot());
  const found = jsQR(new Uint8ClampedArray(png.data), png.width, png.height);
  return found?.data ?? null;
}

/** A one-page PDF with these lines of text, made here. */
async function pdf(lines) {
  const doc = await PDFDocument.create();
  const font = await doc.embedFont(StandardFonts.Helvetica);
  const page = doc.addPage([595, 842]);
  lines.forEach((line, i) => page.drawText(line, { x: 50, y: 780 - i * 20, size: 12, font }));
  return Buffer.from(await doc.save({ useObjectStreams: false }));
}

export const adminScenarios = [
  [
    "an admin creates an agent with the wizard, tests the draft, publishes it, and the QR code's page answers a customer",
    async ({ engine, browser, signIn, admin, llm }) => {
      const context = await browser.newContext(DESKTOP);
      const page = await context.newPage();
      await signIn(page, engine.base, admin);
      await page.getByRole("link", { name: "Administração" }).click();
      await page.getByRole("heading", { name: "Agentes de IA" }).waitFor(WAIT);
      await page.getByRole("button", { name: "Novo agente (assistente)" }).click();

      // 1. Who the agent is.
      await page.getByRole("heading", { name: "Quem é o agente" }).waitFor(WAIT);
      assert.match(new URL(page.url()).pathname, /^\/admin\/agents\/[^/]+\/wizard\/1$/);
      await page.getByLabel("Nome").fill("Sofia");
      await page.getByLabel("Modelo").selectOption("SUPPORT");
      await page.getByLabel("Ramo do negócio").fill("clínica odontológica");
      await page.getByLabel("Descrição").fill("Atendimento da Clínica Sorriso");
      await page.getByLabel("Emoji").fill("🦷");
      await page.getByRole("button", { name: "Salvar e continuar" }).click();

      // 2. How it speaks.
      await page.getByRole("heading", { name: "Como ele fala" }).waitFor(WAIT);
      await page.getByLabel("Empático").check();
      await page.getByLabel("Tom").selectOption("informal");
      await page.getByLabel("Instruções adicionais").fill("Atendemos de segunda a sexta, das 8h às 18h.");
      await page.getByRole("button", { name: "Salvar e continuar" }).click();

      // 3. What to collect — a select without options is refused, and the error shows on
      // that row's options field, focused, with everything typed kept.
      await page.getByRole("heading", { name: "O que ele deve coletar" }).waitFor(WAIT);
      await page.getByRole("button", { name: "Adicionar campo" }).click();
      await page.getByLabel("Rótulo").fill("Convênio");
      await page.getByLabel("Chave").fill("convenio");
      await page.getByLabel("Tipo").selectOption("select");
      await page.getByRole("button", { name: "Salvar e continuar" }).click();
      const options = page.getByLabel("Opções (separadas por vírgula)");
      const optionsError = page.getByRole("alert").filter({ hasText: "A select needs options" });
      await optionsError.waitFor(WAIT);
      assert.equal(await options.getAttribute("aria-invalid"), "true");
      assert.equal(await options.getAttribute("aria-describedby"), await optionsError.getAttribute("id"), "the error is the options field's");
      assert.ok(await options.evaluate((el) => el === document.activeElement), "the invalid field has the focus");
      assert.equal(await page.getByLabel("Rótulo").inputValue(), "Convênio", "nothing typed is lost");
      await shot(page, "10-wizard-field-error", "console-field-error.png");
      await options.fill("Particular, Unimed");
      await page.getByRole("button", { name: "Salvar e continuar" }).click();

      // 4. Where it answers: a new web chat for it.
      await page.getByRole("heading", { name: "Onde ele atende" }).waitFor(WAIT);
      await page.getByRole("button", { name: "Criar um chat web para este agente" }).click();
      await page.getByLabel("Chat web — Sofia (Chat web)").waitFor(WAIT);
      assert.ok(await page.getByLabel("Chat web — Sofia (Chat web)").isChecked());
      await page.getByRole("button", { name: "Salvar e continuar" }).click();

      // 5. The draft answers in the test chat before anything is published, with the
      // prompt the wizard generated.
      await page.getByRole("heading", { name: "Teste antes de publicar" }).waitFor(WAIT);
      const asked = llm.requests.length;
      const test = page.getByLabel("Mensagem de teste");
      await test.fill("Vocês abrem no sábado?");
      await test.press("Enter");
      const sandbox = page.getByRole("log");
      await sandbox.getByText(REPLY).waitFor(WAIT);
      const prompt = llm.requests.slice(asked).map((r) => r.messages?.[0]?.content ?? "").join("\n");
      assert.match(prompt, /clínica odontológica/);
      assert.match(prompt, /Convênio/);

      await page.getByRole("button", { name: "Publicar" }).click();
      await page.getByRole("heading", { name: "Sofia está no ar!" }).waitFor(WAIT);
      const link = page.getByRole("link", { name: /\/a\/sofia/ });
      const url = await link.getAttribute("href");
      assert.equal(url, `${engine.base}/a/sofia`);
      const qr = page.getByRole("img", { name: /QR code/ });
      assert.equal(await readQr(qr), url, "the QR code on the screen encodes the public link");
      await shot(page, "10-wizard-published", "console-wizard.png");

      // The link (what a phone scanning the code opens) is the agent's chat, and it answers.
      const phone = await browser.newContext(PHONE);
      const customer = await phone.newPage();
      await customer.goto(url);
      await customer.getByRole("heading", { name: "Sofia" }).waitFor(WAIT);
      const box = customer.getByLabel("Escreva sua mensagem");
      await box.fill("Qual o horário de vocês?");
      await box.press("Enter");
      await customer.getByRole("log").locator("article.from-ai_agent:not(.streaming)").getByText(REPLY).waitFor(WAIT);
      await shot(customer, "10-published-page-answers");

      // The list shows it published, with its link.
      await page.getByRole("link", { name: "Agentes de IA" }).click();
      await page.getByRole("row", { name: /Sofia/ }).getByText("publicado").waitFor(WAIT);
      await phone.close();
      await context.close();
    },
  ],
  [
    "an admin drops a PDF into the knowledge base, finds its passage, and an offline retrieval agent answers from it in a chat",
    async ({ engine, browser, signIn, admin, rest }) => {
      const agent = await rest.post("/api/v1/agents", { name: "Ajuda", settings: { context_timer_seconds: 0 } });
      const context = await browser.newContext(DESKTOP);
      const page = await context.newPage();
      await signIn(page, engine.base, admin);
      await page.goto(`${engine.base}/admin/knowledge`);
      await page.getByText("Nenhum documento ainda.").waitFor(WAIT);

      // Dropped like a file dragged from the desktop.
      const bytes = await pdf(["Politica de trocas", "Trocas de produtos podem ser feitas em ate 30 dias com a nota fiscal."]);
      const transfer = await page.evaluateHandle((data) => {
        const dt = new DataTransfer();
        dt.items.add(new File([new Uint8Array(data)], "politica-de-trocas.pdf", { type: "application/pdf" }));
        return dt;
      }, [...bytes]);
      const zone = page.getByText("Arraste arquivos para cá");
      await zone.dispatchEvent("dragover", { dataTransfer: transfer });
      await zone.dispatchEvent("drop", { dataTransfer: transfer });
      await page.getByText(/politica-de-trocas\.pdf: indexado em 1 trecho/).waitFor(WAIT);
      const row = page.getByRole("row", { name: /politica-de-trocas/ });
      await row.waitFor(WAIT);
      assert.match(await row.innerText(), /PDF/);

      // The search shows the ranked passage.
      await page.getByLabel("Pergunta").fill("prazo para trocas de produtos");
      await page.getByRole("button", { name: "Buscar", exact: true }).click();
      const passages = page.getByRole("list", { name: "Trechos encontrados, do mais relevante ao menos" });
      await passages.getByText(/30 dias com a nota fiscal/).waitFor(WAIT);
      await shot(page, "11-knowledge-pdf-search", "console-knowledge.png");

      // The agent becomes an offline retrieval agent in its settings form…
      await page.goto(`${engine.base}/admin/agents/${agent.id}`);
      await page.getByLabel("Provedor", { exact: true }).selectOption("retrieval");
      await page.getByRole("button", { name: "Salvar" }).click();
      await page.getByText("Alterações salvas.").waitFor(WAIT);
      assert.equal((await rest.get(`/api/v1/agents/${agent.id}`)).provider.kind, "retrieval");

      // …and answers from the PDF in its test chat, citing it.
      const test = page.getByLabel("Mensagem de teste");
      await test.fill("Como faço para trocar um produto?");
      await test.press("Enter");
      const answer = page.getByRole("log").getByRole("paragraph").filter({ hasText: /30 dias com a nota fiscal/ });
      await answer.waitFor(WAIT);
      assert.match(await answer.innerText(), /Fonte: politica-de-trocas/);
      // The passage it used is listed under the answer.
      await page.getByRole("log").getByText("1 trecho(s) da base usados").waitFor(WAIT);
      await shot(page, "11-retrieval-agent-answers");

      // A customer on a web chat served by that agent gets the same answer.
      await page.goto(`${engine.base}/admin/integrations`);
      await page.getByRole("button", { name: "Nova integração" }).click();
      const create = page.getByRole("form", { name: "Nova integração" });
      await create.getByLabel("Nome").fill("Ajuda no site");
      await create.getByLabel("Agente de IA padrão").selectOption(agent.id);
      await create.getByRole("button", { name: "Criar" }).click();
      const card = page.getByRole("form", { name: "Ajuda no site" });
      await card.waitFor(WAIT);
      const chatUrl = await card.getByRole("link", { name: /\/chat\// }).getAttribute("href");
      const phone = await browser.newContext(PHONE);
      const customer = await phone.newPage();
      await customer.goto(`${engine.base}${chatUrl}`);
      const box = customer.getByLabel("Escreva sua mensagem");
      await box.fill("Como faço para trocar um produto?");
      await box.press("Enter");
      await customer.getByRole("log").getByText(/30 dias com a nota fiscal/).waitFor(WAIT);
      await shot(customer, "11-customer-answered-from-pdf");
      await phone.close();
      await context.close();
    },
  ],
  [
    "an admin gets the server's verdict next to the field: a bad JSON Schema on a tool, a bad URL on a webhook; a secret is shown once",
    async ({ engine, browser, signIn, admin }) => {
      const context = await browser.newContext(DESKTOP);
      const page = await context.newPage();
      await signIn(page, engine.base, admin);
      await page.goto(`${engine.base}/admin/tools/new`);
      await page.getByLabel("Tipo").selectOption("http");
      await page.getByLabel("Nome da função").fill("consultar_pedido");
      await page.getByLabel("Descrição").fill("Consulta um pedido pelo número");
      await page.getByLabel("URL", { exact: true }).fill("https://api.example.com/orders/{{order_id}}");
      const schema = page.getByLabel("Parâmetros (JSON Schema)");
      await schema.fill('{"type": "array"}');
      await page.getByRole("button", { name: "Salvar" }).click();
      const alert = page.getByRole("alert").filter({ hasText: /object/ });
      await alert.waitFor(WAIT);
      assert.equal(await schema.getAttribute("aria-invalid"), "true");
      assert.equal(await schema.getAttribute("aria-describedby"), await alert.getAttribute("id"), "the error is the schema field's");
      assert.equal(await page.getByLabel("Nome da função").inputValue(), "consultar_pedido");
      await shot(page, "12-tool-schema-error");

      await schema.fill('{"type": "object", "properties": {"order_id": {"type": "string"}}, "required": ["order_id"]}');
      await page.getByRole("button", { name: "Salvar" }).click();
      await page.getByRole("link", { name: /consultar_pedido/ }).waitFor(WAIT);
      assert.match(new URL(page.url()).pathname, /^\/admin\/tools\/[^/]+$/);

      // A webhook URL without a scheme is refused, on the URL field.
      await page.goto(`${engine.base}/admin/webhooks`);
      await page.getByRole("button", { name: "Novo webhook" }).click();
      const url = page.getByLabel("URL");
      await url.fill("hooks.example.com/atende");
      await page.getByRole("button", { name: "Criar" }).click();
      await page.locator(`#${(await url.getAttribute("id"))}-error`).waitFor(WAIT);
      assert.equal(await url.getAttribute("aria-invalid"), "true");
      await url.fill("https://hooks.example.com/atende");
      await page.getByRole("button", { name: "Criar" }).click();
      const secret = page.getByRole("status").filter({ hasText: "Segredo de assinatura do webhook" });
      await secret.waitFor(WAIT);
      const shown = await secret.locator("code").innerText();
      assert.ok(shown.length >= 32, `a long secret is shown: ${shown}`);
      await secret.getByRole("button", { name: "Já guardei" }).click();
      await secret.waitFor({ state: "detached", timeout: 5_000 });
      await page.getByRole("link", { name: "https://hooks.example.com/atende" }).waitFor(WAIT);
      assert.equal(await page.getByText(shown).count(), 0, "the secret is not shown again");
      await context.close();
    },
  ],
];
