// Browser tests of the admin screens (concatenated to run.mjs's scenarios): the wizard to a
// published agent whose QR code and public page work, a PDF dropped into the knowledge base
// and answered from by an offline retrieval agent, and field errors shown where they belong.
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { createServer } from "node:http";
import jsQR from "jsqr";
import { PDFDocument, StandardFonts } from "pdf-lib";
import { PNG } from "pngjs";
import { screenshot } from "./harness.mjs";
import { REPLY } from "./llm.mjs";

const WAIT = { timeout: 15_000 };
const DESKTOP = { viewport: { width: 1400, height: 900 } };
const PHONE = { viewport: { width: 360, height: 740 }, isMobile: true, hasTouch: true };

/** The text a QR code on the screen encodes, read back from a screenshot of it. */
async function readQr(locator) {
  const png = PNG.sync.read(await locator.screenshot());
  const found = jsQR(new Uint8ClampedArray(png.data), png.width, png.height);
  return found?.data ?? null;
}

/** Waits for the field to be marked invalid; the error text under it (its description). */
async function fieldError(page, field) {
  await field.and(page.locator('[aria-invalid="true"]')).waitFor(WAIT);
  return page.locator(`[id="${await field.getAttribute("aria-describedby")}"]`).innerText();
}

/** A one-page PDF with these lines of text, made here. */
async function pdf(lines) {
  const doc = await PDFDocument.create();
  const font = await doc.embedFont(StandardFonts.Helvetica);
  const page = doc.addPage([595, 842]);
  lines.forEach((line, i) => page.drawText(line, { x: 50, y: 780 - i * 20, size: 12, font }));
  return Buffer.from(await doc.save({ useObjectStreams: false }));
}

/** A receiver for outbound webhooks on loopback: answers 200 and keeps what it got. */
function webhookReceiver() {
  const received = [];
  const server = createServer((req, res) => {
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      received.push({ headers: req.headers, body: JSON.parse(body || "null") });
      res.writeHead(200, { "content-type": "text/plain" });
      res.end("recebido");
    });
  });
  return new Promise((resolve) =>
    server.listen(0, "127.0.0.1", () => resolve({ url: `http://127.0.0.1:${server.address().port}/atende`, received, close: () => server.close() })),
  );
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
      const optionsError = page.getByRole("alert").filter({ hasText: "Uma lista precisa de opções." });
      await optionsError.waitFor(WAIT);
      assert.equal(await options.getAttribute("aria-invalid"), "true");
      assert.equal(await options.getAttribute("aria-describedby"), await optionsError.getAttribute("id"), "the error is the options field's");
      assert.ok(await options.evaluate((el) => el === document.activeElement), "the invalid field has the focus");
      assert.equal(await page.getByLabel("Rótulo").inputValue(), "Convênio", "nothing typed is lost");
      await screenshot(page, "10-wizard-field-error", "console-field-error.png");
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
      await screenshot(page, "10-wizard-published", "console-wizard.png");

      // The link (what a phone scanning the code opens) is the agent's chat, and it answers.
      const phone = await browser.newContext(PHONE);
      const customer = await phone.newPage();
      await customer.goto(url);
      await customer.getByRole("heading", { name: "Sofia" }).waitFor(WAIT);
      const box = customer.getByLabel("Escreva sua mensagem");
      await box.fill("Qual o horário de vocês?");
      await box.press("Enter");
      await customer.getByRole("log").locator("article.from-ai_agent:not(.streaming)").getByText(REPLY).waitFor(WAIT);
      await screenshot(customer, "10-published-page-answers");

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
      await page.getByText(/politica-de-trocas\.pdf: indexado em 1 trecho$/).waitFor(WAIT);
      const row = page.getByRole("row", { name: /politica-de-trocas/ });
      await row.waitFor(WAIT);
      assert.match(await row.innerText(), /PDF/);

      // The search shows the ranked passage.
      await page.getByLabel("Pergunta").fill("prazo para trocas de produtos");
      await page.getByRole("button", { name: "Buscar", exact: true }).click();
      const passages = page.getByRole("list", { name: "Trechos encontrados, do mais relevante ao menos" });
      await passages.getByText(/30 dias com a nota fiscal/).waitFor(WAIT);
      await screenshot(page, "11-knowledge-pdf-search", "console-knowledge.png");

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
      await page.getByRole("log").getByText("1 trecho da base usado", { exact: true }).waitFor(WAIT);
      await screenshot(page, "11-retrieval-agent-answers");

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
      await screenshot(customer, "11-customer-answered-from-pdf");
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
      const alert = page.getByRole("alert").filter({ hasText: "Deve ser um JSON Schema com \"type\": \"object\"." });
      await alert.waitFor(WAIT);
      assert.equal(await schema.getAttribute("aria-invalid"), "true");
      assert.equal(await schema.getAttribute("aria-describedby"), await alert.getAttribute("id"), "the error is the schema field's");
      assert.equal(await page.getByLabel("Nome da função").inputValue(), "consultar_pedido");
      await screenshot(page, "12-tool-schema-error");

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
      assert.equal(await fieldError(page, url), "Deve ser um endereço http(s) completo, como https://exemplo.com/caminho.");
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
  [
    "an admin sets up the team and the routing: a department, a user in it, distribution, an automation that answers a keyword without the LLM, and a webhook whose delivery log fills",
    async ({ engine, browser, signIn, admin, rest, llm }) => {
      const receiver = await webhookReceiver();
      const context = await browser.newContext(DESKTOP);
      const page = await context.newPage();
      await signIn(page, engine.base, admin);

      await page.goto(`${engine.base}/admin/organization`);
      await page.getByLabel("Nome do departamento").fill("Suporte");
      await page.getByRole("button", { name: "Adicionar departamento" }).click();
      await page.getByRole("region", { name: "Departamentos" }).getByText("Suporte").waitFor(WAIT);
      await page.getByLabel("Nome do funil").fill("Vendas");
      await page.getByLabel("Etapas").fill("Novo, Proposta, Fechado");
      await page.getByRole("button", { name: "Adicionar funil" }).click();
      await page.getByRole("region", { name: "Funis" }).getByText("Proposta").waitFor(WAIT);
      await page.getByLabel("Nome da etiqueta").fill("vip");
      await page.getByRole("button", { name: "Adicionar etiqueta" }).click();
      await page.getByRole("region", { name: "Etiquetas" }).getByText("vip").waitFor(WAIT);
      await screenshot(page, "13-organization");

      // A user with a bad e-mail is refused on the e-mail field; fixed, it is created.
      await page.getByRole("link", { name: "Usuários e papéis" }).click();
      await page.getByRole("button", { name: "Novo usuário" }).click();
      const form = page.getByRole("form", { name: "Novo usuário" });
      await form.getByLabel("Nome").fill("Davi Supervisor");
      await form.getByLabel("E-mail").fill("davi-sem-arroba");
      await form.getByLabel("Senha").fill("senha-forte-000");
      await form.getByLabel("Papel").selectOption("supervisor");
      await form.getByLabel("Suporte").check();
      await form.getByRole("button", { name: "Salvar" }).click();
      assert.equal(await fieldError(page, form.getByLabel("E-mail")), "Não é um e-mail válido.");
      await form.getByLabel("E-mail").fill("davi@example.com");
      await form.getByRole("button", { name: "Salvar" }).click();
      await page.getByRole("row", { name: /Davi Supervisor/ }).getByRole("cell", { name: "Supervisor", exact: true }).waitFor(WAIT);
      const davi = (await rest.get("/api/v1/users")).items.find((u) => u.email === "davi@example.com");
      const suporte = (await rest.get("/api/v1/departments")).items.find((d) => d.name === "Suporte");
      assert.deepEqual(davi.department_ids, [suporte.id]);

      // Distribution: preferring AI without letting AI take conversations is refused beside
      // that switch; the fixed settings are what the API then holds.
      await page.getByRole("link", { name: "Distribuição" }).click();
      await page.getByLabel("Método").selectOption("by_load");
      await page.getByLabel("Tentar agentes de IA antes das pessoas").check();
      await page.getByRole("button", { name: "Salvar" }).click();
      assert.equal(await fieldError(page, page.getByLabel("Tentar agentes de IA antes das pessoas")), "Exige incluir agentes de IA entre os candidatos.");
      await page.getByLabel("Incluir agentes de IA entre os candidatos").check();
      await page.getByRole("button", { name: "Salvar" }).click();
      await page.getByText("Alterações salvas.").waitFor(WAIT);
      const distribution = await rest.get("/api/v1/settings/distribution");
      assert.equal(distribution.method, "by_load");
      assert.equal(distribution.prefer_ai, true);
      // Back to what the other scenarios expect.
      await rest.put("/api/v1/settings/distribution", { ...distribution, method: "round_robin", prefer_ai: false, assign_to_ai_agent: false });

      // An automation answers "endereço" itself.
      await page.getByRole("link", { name: "Automações" }).click();
      await page.getByRole("button", { name: "Nova automação" }).click();
      await page.getByLabel("Nome").fill("Endereço");
      await page.getByLabel("Palavra-chave").fill("endereço");
      await page.getByLabel("Mensagem").fill("Estamos na Rua das Flores, 100.");
      await page.getByRole("button", { name: "Salvar" }).click();
      await page.getByRole("row", { name: /Endereço/ }).waitFor(WAIT);

      // A webhook to the receiver, then its delivery log.
      await page.getByRole("link", { name: "Webhooks de saída" }).click();
      await page.getByRole("button", { name: "Novo webhook" }).click();
      await page.getByLabel("URL").fill(receiver.url);
      await page.getByLabel("mensagem recebida").check();
      await page.getByRole("button", { name: "Criar" }).click();
      const secret = await page.getByRole("status").filter({ hasText: "Segredo de assinatura do webhook" }).locator("code").innerText();
      await page.getByRole("button", { name: "Já guardei" }).click();

      // A customer on Sofia's page asks for the address: the automation answers, the LLM is
      // not called, and the webhook receives the message.
      const asked = llm.requests.length;
      const phone = await browser.newContext(PHONE);
      const customer = await phone.newPage();
      await customer.goto(`${engine.base}/a/sofia`);
      const box = customer.getByLabel("Escreva sua mensagem");
      await box.fill("Qual o endereço de vocês?");
      await box.press("Enter");
      await customer.getByRole("log").getByText("Estamos na Rua das Flores, 100.").waitFor(WAIT);
      assert.equal(llm.requests.length, asked, "the automation answered without the LLM");

      await page.getByRole("link", { name: receiver.url }).click();
      const log = page.getByRole("region", { name: /Entregas para/ });
      await log.waitFor(WAIT);
      // Deliveries happen in the background; the open log reads itself again until they show.
      await log.getByRole("row", { name: /mensagem recebida/ }).getByText("entregue").first().waitFor(WAIT);
      await log.getByText("HTTP 200").first().waitFor(WAIT);
      const got = receiver.received.find((r) => r.body?.event === "message_received");
      assert.ok(got, "the receiver got the message_received event");
      assert.match(got.headers["x-atende-signature"], /^t=\d+,v1=[0-9a-f]{64}$/);
      assert.ok(secret.length >= 32);
      await screenshot(page, "13-webhook-deliveries");
      receiver.close();
      await phone.close();
      await context.close();
    },
  ],
  [
    "an admin connects channels: Evolution needs its server URL, a generic integration's secret is shown once and signs a real inbound message",
    async ({ engine, browser, signIn, admin, rest }) => {
      const context = await browser.newContext(DESKTOP);
      const page = await context.newPage();
      await signIn(page, engine.base, admin);
      await page.goto(`${engine.base}/admin/integrations`);

      await page.getByRole("button", { name: "Nova integração" }).click();
      let create = page.getByRole("form", { name: "Nova integração" });
      await create.getByLabel("Canal").selectOption("evolution");
      await create.getByLabel("Nome").fill("WhatsApp da loja");
      await create.getByLabel("Instância").fill("loja");
      await create.getByLabel("apikey da Evolution").fill("chave-evolution-123");
      await create.getByRole("button", { name: "Criar" }).click();
      assert.equal(await fieldError(page, create.getByLabel("URL do servidor Evolution")), "Obrigatório para este canal.");
      assert.equal(await create.getByLabel("Instância").inputValue(), "loja", "nothing typed is lost");
      await create.getByRole("button", { name: "Cancelar" }).click();

      await page.getByRole("button", { name: "Nova integração" }).click();
      create = page.getByRole("form", { name: "Nova integração" });
      await create.getByLabel("Canal").selectOption("generic");
      await create.getByLabel("Nome").fill("Sistema da loja");
      await create.getByRole("button", { name: "Criar" }).click();
      const shown = page.getByRole("status").filter({ hasText: "Segredo de assinatura de Sistema da loja" });
      await shown.waitFor(WAIT);
      const secret = await shown.locator("code").innerText();
      const card = page.getByRole("form", { name: "Sistema da loja" });
      const inbound = await card.getByRole("definition").filter({ hasText: "/webhooks/generic/" }).innerText();
      await screenshot(page, "14-generic-integration-secret");
      await shown.getByRole("button", { name: "Já guardei" }).click();
      await shown.waitFor({ state: "detached", timeout: 5_000 });
      assert.equal(await page.getByText(secret).count(), 0, "the secret is not shown again");
      await card.getByText("definido (não é mostrado de novo)").waitFor(WAIT);

      // The channel, configured with what the screen showed, gets its message accepted.
      const body = JSON.stringify({ contact: { external_id: "erp-7", name: "Cliente do ERP" }, message: { external_id: "erp-7-1", text: "Pedido 99 pago" } });
      const t = Math.floor(Date.now() / 1000);
      const signature = `t=${t},v1=${createHmac("sha256", secret).update(`${t}.${body}`).digest("hex")}`;
      const response = await fetch(inbound.trim(), { method: "POST", headers: { "content-type": "application/json", "x-atende-signature": signature }, body });
      const accepted = await response.json();
      assert.equal(response.status, 202, JSON.stringify(accepted));
      const conversation = await rest.get(`/api/v1/conversations/${accepted.conversation_id}`);
      assert.equal(conversation.id, accepted.conversation_id);
      const forged = `t=${t},v1=${createHmac("sha256", "um-segredo-que-ninguem-mostrou").update(`${t}.${body}`).digest("hex")}`;
      const wrong = await fetch(inbound.trim(), { method: "POST", headers: { "content-type": "application/json", "x-atende-signature": forged }, body });
      assert.equal(wrong.status, 401, "another secret does not sign for it");
      await context.close();
    },
  ],
];
