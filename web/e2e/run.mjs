// Browser tests: each scenario reads like what a person does, finds things by role and
// label, waits for what the person would see, and saves a screenshot (e2e/artifacts/).
//   npm --prefix web run e2e            (ATENDE_BIN=… to pick the engine binary)
import assert from "node:assert/strict";
import { launchBrowser, restClient, screenshot, startEngine } from "./harness.mjs";
import { REPLY, SUGGESTED_REPLIES, startLlm } from "./llm.mjs";
import { adminScenarios } from "./admin.mjs";
import { liveScenarios, liveTimings } from "./live.mjs";
import { deskScenarios } from "./desk.mjs";

const WAIT = { timeout: 15_000 };
const ADMIN = { email: "ana@example.com", password: "senha-forte-123", name: "Ana Admin" };
const BRUNO = { email: "bruno@example.com", password: "senha-forte-456", name: "Bruno Agente" };
const CARLA = { email: "carla@example.com", password: "senha-forte-789", name: "Carla Agente" };
const PHONE = { viewport: { width: 360, height: 740 }, isMobile: true, hasTouch: true };
const DESKTOP = { viewport: { width: 1400, height: 860 } };

const timings = {};

async function signIn(page, base, who) {
  await page.goto(`${base}/login`);
  await page.getByLabel("E-mail").fill(who.email);
  await page.getByLabel("Senha").fill(who.password);
  await page.getByRole("button", { name: "Entrar" }).click();
  await page.getByRole("link", { name: "Minhas" }).waitFor(WAIT);
}

const scenarios = [
  [
    "an admin sets up a fresh install with the code from the log, signs out and signs in again",
    async ({ engine, browser }) => {
      const context = await browser.newContext(DESKTOP);
      const page = await context.newPage();
      const started = Date.now();
      await page.goto(`${engine.base}/`);
      await page.getByRole("heading", { name: "Configurar o Atende" }).waitFor(WAIT);
      timings.setupPageMs = Date.now() - started;
      assert.equal(new URL(page.url()).pathname, "/setup");

      await page.getByLabel("Código de configuração").fill("AAAA-BBBB-CCCC-DDDD");
      await page.getByLabel("Nome da organização").fill("Loja Exemplo");
      await page.getByLabel("Seu nome").fill(ADMIN.name);
      await page.getByLabel("E-mail").fill(ADMIN.email);
      await page.getByLabel("Senha").fill(ADMIN.password);
      await page.getByRole("button", { name: "Criar e entrar" }).click();
      await page.getByText("Código de configuração incorreto").waitFor(WAIT);
      assert.equal(await page.getByLabel("Seu nome").inputValue(), ADMIN.name, "nothing typed is lost");
      await screenshot(page, "01-setup-wrong-code");

      await page.getByLabel("Código de configuração").fill(engine.setupCode);
      await page.getByRole("button", { name: "Criar e entrar" }).click();
      await page.getByRole("link", { name: "Minhas" }).waitFor(WAIT);
      assert.equal(new URL(page.url()).pathname, "/inbox/mine");
      await page.getByText("Nenhuma conversa com você agora.").waitFor(WAIT);
      await screenshot(page, "01-setup-done-inbox");

      await page.getByRole("button", { name: "Sair" }).click();
      await page.getByRole("heading", { name: "Entrar" }).waitFor(WAIT);
      await signIn(page, engine.base, ADMIN);
      // A reload keeps the session and the route.
      await page.goto(`${engine.base}/inbox/queue`);
      await page.getByText("Nenhuma conversa na fila — bom trabalho.").waitFor(WAIT);
      const loadStart = Date.now();
      await page.reload();
      await page.getByRole("link", { name: "Fila" }).waitFor(WAIT);
      timings.inboxReloadMs = Date.now() - loadStart;
      await context.close();
    },
  ],
  [
    "a customer writes on the public chat, the agent answers live, both see typing and read receipts",
    async ({ engine, browser, rest, state }) => {
      const bruno = await rest.post("/api/v1/users", { ...BRUNO, role: "agent", max_conversations: 10, available: true });
      state.bruno = bruno;
      const webchat = await rest.post("/api/v1/integrations", { kind: "webchat", name: "Site" });

      const agentContext = await browser.newContext(DESKTOP);
      const agent = await agentContext.newPage();
      await signIn(agent, engine.base, BRUNO);

      const customerContext = await browser.newContext(PHONE);
      const customer = await customerContext.newPage();
      await customer.goto(`${engine.base}/chat/${webchat.id}`);
      const box = customer.getByLabel("Escreva sua mensagem");
      await box.waitFor(WAIT);
      await box.fill("Oi, meu pedido 4411 ainda não chegou");
      await box.press("Enter");
      await customer.getByText("Oi, meu pedido 4411 ainda não chegou").waitFor(WAIT);

      // The conversation lands in Bruno's list live (the distributor gives it to him).
      const row = agent.getByRole("link", { name: /Visitante/ }).first();
      await row.waitFor(WAIT);
      await row.click();
      await agent.getByRole("log").getByText("Oi, meu pedido 4411 ainda não chegou").waitFor(WAIT);

      // Bruno opened it: the customer sees their message read.
      await customer.getByRole("log").getByText("lida").waitFor(WAIT);

      // Typing, both ways.
      const reply = agent.getByLabel("Resposta");
      await reply.pressSequentially("Vou verificar", { delay: 20 });
      await customer.getByText(/está digitando/).waitFor(WAIT);
      await reply.fill("Oi! Já localizei o pedido 4411: ele sai hoje para entrega.");
      await reply.press("Enter");
      await customer.getByRole("log").getByText("ele sai hoje para entrega").waitFor(WAIT);
      await customer.getByText(/está digitando/).waitFor({ state: "hidden", timeout: 15_000 });

      // The customer has seen the answer: Bruno's reply shows it was read.
      await agent.getByRole("log").locator("article.mine").getByText("lida").waitFor(WAIT);

      await box.pressSequentially("Obrigado", { delay: 20 });
      await agent.getByText("Visitante está digitando…").waitFor(WAIT);
      await box.press("Enter");
      await agent.getByRole("log").getByText("Obrigado").waitFor(WAIT);
      await screenshot(agent, "02-inbox-live-chat");
      await screenshot(customer, "02-public-chat-phone");
      await agentContext.close();
      await customerContext.close();
    },
  ],
  [
    "an AI agent's answer streams into its public page, the customer asks for a person and an agent takes it from the queue",
    async ({ engine, browser, rest, state, llm }) => {
      // Bruno steps away, so the escalation waits in the queue for Carla.
      await rest.patch(`/api/v1/users/${state.bruno.id}`, { available: false });
      await rest.post("/api/v1/users", { ...CARLA, role: "agent", max_conversations: 10, available: false });
      const webchat = await rest.post("/api/v1/integrations", { kind: "webchat", name: "Site da Lia" });
      const draft = await rest.post("/api/v1/agents/wizard/start", { name: "Lia" });
      await rest.put(`/api/v1/agents/wizard/${draft.id}/step/1`, { name: "Lia", template: "SUPPORT", niche: "loja de roupas", description: "Atendimento da Loja Exemplo", emoji: "🛍️" });
      await rest.put(`/api/v1/agents/wizard/${draft.id}/step/2`, { personality: ["friendly"], tone: "informal" });
      await rest.put(`/api/v1/agents/wizard/${draft.id}/step/3`, { custom_fields: [] });
      await rest.put(`/api/v1/agents/wizard/${draft.id}/step/4`, { integration_ids: [webchat.id] });
      const published = await rest.post(`/api/v1/agents/wizard/${draft.id}/publish`);

      const agentContext = await browser.newContext(DESKTOP);
      const carla = await agentContext.newPage();
      await signIn(carla, engine.base, CARLA);
      await carla.goto(`${engine.base}/inbox/queue`);
      await carla.getByText("Nenhuma conversa na fila — bom trabalho.").waitFor(WAIT);

      const customerContext = await browser.newContext(PHONE);
      const customer = await customerContext.newPage();
      const started = Date.now();
      await customer.goto(published.public_url);
      await customer.getByRole("heading", { name: "Lia" }).waitFor(WAIT);
      const box = customer.getByLabel("Escreva sua mensagem");
      await box.waitFor(WAIT);
      timings.publicPageMs = Date.now() - started;
      await box.fill("Qual o horário de vocês?");
      await box.press("Enter");

      // The answer is written word by word before the whole message arrives.
      const streaming = customer.locator("article.streaming");
      await streaming.waitFor(WAIT);
      await streaming.getByText(/Olá!/).waitFor(WAIT);
      const partial = await streaming.locator("p").innerText();
      assert.ok(partial.length < REPLY.length, `partial text while streaming: ${partial}`);
      await screenshot(customer, "03-public-ai-streaming", "console-public-chat.png");
      await customer.getByRole("log").locator("article.from-ai_agent:not(.streaming)").getByText(REPLY).waitFor(WAIT);
      assert.equal(await customer.locator("article.streaming").count(), 0);
      // The engine's quick replies for the answer's question, as buttons.
      const quick = customer.getByRole("group", { name: "Sugestões", exact: true });
      await quick.getByRole("button", { name: "Sim" }).waitFor(WAIT);
      await quick.getByRole("button", { name: "Não" }).waitFor(WAIT);

      await box.fill("Quero falar com um atendente humano");
      await box.press("Enter");
      await customer.getByText("Quero falar com um atendente humano").waitFor(WAIT);

      // It lands in Carla's queue without a reload, with the reason in words.
      const row = carla.getByRole("link", { name: /Visitante/ }).first();
      await row.waitFor(WAIT);
      await row.click();
      await carla.getByText("o cliente pediu uma pessoa").waitFor(WAIT);
      await carla.getByRole("log").getByText(REPLY).waitFor(WAIT);
      await carla.getByRole("button", { name: "Assumir" }).click();
      await carla.getByText("Responsável: você").waitFor(WAIT);
      const reply = carla.getByLabel("Resposta");
      await reply.fill("Oi, aqui é a Carla. Como posso ajudar?");
      await reply.press("Enter");
      await customer.getByRole("log").getByText("aqui é a Carla").waitFor(WAIT);
      await carla.getByRole("log").locator("article.mine").getByText("aqui é a Carla").waitFor(WAIT);

      // Carla asks for reply suggestions: Lia's model writes them, one click drafts one.
      const asked = llm.requests.length;
      await carla.getByRole("button", { name: "Sugerir respostas" }).click();
      const chips = carla.getByRole("group", { name: "Sugestões", exact: true });
      for (const text of SUGGESTED_REPLIES) await chips.getByRole("button", { name: text }).waitFor(WAIT);
      assert.ok(
        llm.requests.slice(asked).some((r) => r.messages?.[0]?.content?.startsWith("Você ajuda um atendente humano")),
        "the suggestions came from the model",
      );
      await chips.getByRole("button", { name: SUGGESTED_REPLIES[1] }).click();
      assert.equal(await reply.inputValue(), SUGGESTED_REPLIES[1]);
      // Taken, it has left the queue.
      await carla.getByText("Nenhuma conversa na fila — bom trabalho.").waitFor(WAIT);
      await screenshot(carla, "03-inbox-reply-suggestions", "console-inbox.png");
      await reply.press("Enter");
      await customer.getByRole("log").getByText(SUGGESTED_REPLIES[1]).waitFor(WAIT);
      await screenshot(carla, "03-inbox-taken-from-queue");

      // Carla hands it back to the queue with a reason, typed in place.
      await carla.getByRole("button", { name: "Escalar" }).click();
      await carla.getByLabel("Motivo da escalação").fill("precisa de um supervisor");
      await carla.getByRole("toolbar").getByRole("button", { name: "Escalar" }).click();
      await carla.getByText("Escalada porque: precisa de um supervisor").waitFor(WAIT);
      await carla.getByText("Responsável: ninguém").waitFor(WAIT);
      await screenshot(customer, "03-public-after-handover");
      await agentContext.close();
      await customerContext.close();
    },
  ],
  ...adminScenarios,
];

// The desk's go before the volume scenario, whose 10,000 conversations they do not need.
scenarios.push(...liveScenarios.slice(0, -1), ...deskScenarios, ...liveScenarios.slice(-1));

const only = process.argv[2];
const llm = await startLlm();
const engine = await startEngine(llm.baseUrl);
const { browser, close } = await launchBrowser();
const rest = restClient(engine.base);
const state = {};
let failed = 0;
try {
  for (const [name, run] of scenarios) {
    // The set-up scenario creates the admin every other one works as: it always runs.
    if (only && !name.includes(only) && name !== scenarios[0][0]) continue;
    const started = Date.now();
    try {
      await run({ engine, browser, rest, state, llm, signIn, admin: ADMIN });
      if (name.startsWith("an admin sets up")) await rest.login(ADMIN.email, ADMIN.password);
      console.log(`ok   ${name} (${Date.now() - started} ms)`);
    } catch (e) {
      failed += 1;
      console.log(`FAIL ${name}\n${e.stack ?? e}`);
      for (const context of browser.contexts()) {
        for (const [i, page] of context.pages().entries()) await screenshot(page, `failed-${failed}-${i}`).catch(() => {});
        await context.close().catch(() => {});
      }
      break;
    }
  }
} finally {
  engine.stop();
  llm.close();
  await close().catch(() => {});
}
console.log(`timings: ${JSON.stringify({ ...timings, ...liveTimings })}`);
if (failed) {
  console.log(engine.log().split("\n").slice(-40).join("\n"));
  process.exit(1);
}
