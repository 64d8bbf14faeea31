// Browser tests of the desk: transfer with a note, private notes, canned responses, ticket
// fields, and the customer's 1–5 rating on the web chat. Each scenario arranges its own people
// and channel (so it also runs alone: `npm --prefix web run e2e -- "private note"`) and reads
// like what an agent or a customer does.
import assert from "node:assert/strict";
import { screenshot } from "./harness.mjs";

const WAIT = { timeout: 15_000 };
const DESKTOP = { viewport: { width: 1400, height: 900 } };
const PHONE = { viewport: { width: 360, height: 740 }, isMobile: true, hasTouch: true };
const DORA = { email: "dora@example.com", password: "senha-forte-dora", name: "Dora Atendente" };
const EDU = { email: "edu@example.com", password: "senha-forte-edu1", name: "Edu Atendente" };
const NOTE = "Cliente já pediu reembolso uma vez; conferir o pedido 7788 antes de prometer prazo.";
const TRANSFER_NOTE = "Edu, ela quer o reembolso do pedido 7788 — já confirmei o pagamento.";
const DEADLINE = "O prazo de entrega é de 3 a 5 dias úteis após a confirmação do pagamento.";
const THANKS = "Obrigada pela paciência! Qualquer coisa, estou por aqui.";

async function signIn(page, base, who) {
  await page.goto(`${base}/login`);
  await page.getByLabel("E-mail").fill(who.email);
  await page.getByLabel("Senha").fill(who.password);
  await page.getByRole("button", { name: "Entrar" }).click();
  await page.getByRole("link", { name: "Minhas" }).waitFor(WAIT);
}

/** A staff member, created once per engine (the scenarios may run alone or in any order). */
async function person(rest, who, departmentIds = []) {
  const { people } = await rest.get("/api/v1/presence");
  const found = people.find((p) => p.name === who.name);
  if (found) return rest.patch(`/api/v1/users/${found.id}`, { department_ids: departmentIds, available: true });
  // Room for whatever earlier scenarios left in the queue, which the distributor hands out too.
  return rest.post("/api/v1/users", { ...who, role: "agent", max_conversations: 100, available: true, department_ids: departmentIds });
}

/** Dora's shop: a web chat whose conversations go to its department, where only Dora works
 * (the test configuration does not require presence, so anyone available could get them). */
async function dorasShop(rest, name) {
  const { items } = await rest.get("/api/v1/departments?limit=200");
  const department = items.find((d) => d.name === "Loja (desk)") ?? (await rest.post("/api/v1/departments", { name: "Loja (desk)" }));
  const dora = await person(rest, DORA, [department.id]);
  const webchat = await rest.post("/api/v1/integrations", { kind: "webchat", name, default_department_id: department.id });
  return { dora, webchat };
}

/** A customer writes on a fresh web chat page; resolves once the message is on screen. */
async function customerWrites(browser, base, integration, text) {
  const context = await browser.newContext(PHONE);
  const page = await context.newPage();
  await page.goto(`${base}/chat/${integration}`);
  const box = page.getByLabel("Escreva sua mensagem");
  await box.waitFor(WAIT);
  await box.fill(text);
  await box.press("Enter");
  await page.getByRole("log").getByText(text).waitFor(WAIT);
  return { context, page, box };
}

/** The one conversation of a channel, once the distributor has given it to someone. */
async function conversationOf(rest, integrationId, ownerId) {
  const deadline = Date.now() + WAIT.timeout;
  for (;;) {
    const { items } = await rest.get(`/api/v1/conversations?integration_id=${integrationId}`);
    if (items.length === 1 && items[0].owner.type === "user") {
      assert.equal(items[0].owner.id, ownerId, "the distributor gave it to the shop's one agent");
      return items[0].id;
    }
    if (Date.now() > deadline) throw new Error(`no assigned conversation on ${integrationId}: ${JSON.stringify(items)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Opens a conversation from the person's list, where it arrives live (the list's row is a
 * link to the conversation's own URL; other scenarios leave other visitors in it). */
async function openFromList(page, conversationId) {
  const row = page.getByRole("link", { name: /Visitante/ }).and(page.locator(`[href="/c/${conversationId}"]`));
  await row.waitFor(WAIT);
  await row.click();
}

export const deskScenarios = [
  [
    "an agent writes a private note the customer never sees, answers with a canned response picked with /, edits the ticket and transfers it with a note to a colleague, who reads the note",
    async ({ engine, browser, rest }) => {
      const { dora, webchat } = await dorasShop(rest, "Loja (notas)");
      await person(rest, EDU);
      const department = await rest.post("/api/v1/departments", { name: "Cobrança", description: "Pagamentos e reembolsos" });
      const funnel = await rest.post("/api/v1/funnels", { name: "Pós-venda" });
      const stage = await rest.post(`/api/v1/funnels/${funnel.id}/stages`, { name: "Reembolso" });
      await rest.post("/api/v1/canned-responses", { shortcut: "prazo", content: DEADLINE, scope: "tenant" });

      // Dora alone is online, so the distributor gives her the customer's conversation.
      const doraContext = await browser.newContext(DESKTOP);
      const page = await doraContext.newPage();
      await signIn(page, engine.base, DORA);

      // Her own canned response, made on the "Respostas prontas" screen.
      await page.getByRole("link", { name: "Respostas prontas" }).click();
      await page.getByRole("heading", { name: "Respostas prontas" }).waitFor(WAIT);
      await page.getByRole("cell", { name: "/prazo", exact: true }).waitFor(WAIT);
      await page.getByLabel("Atalho").fill("Bad shortcut!");
      await page.getByLabel("Texto").fill(THANKS);
      await page.getByRole("button", { name: "Adicionar" }).click();
      // The API's reason, under the field; what was typed stays.
      await page.locator("#field-shortcut-error").waitFor(WAIT);
      assert.equal(await page.getByLabel("Texto").inputValue(), THANKS);
      await page.getByLabel("Atalho").fill("obrigada");
      await page.getByRole("button", { name: "Adicionar" }).click();
      await page.getByRole("cell", { name: "/obrigada", exact: true }).waitFor(WAIT);
      const ownRow = page.getByRole("row", { name: /obrigada/ });
      await ownRow.getByText("Só minha").waitFor(WAIT);
      // The organisation's response is not hers to change.
      assert.equal(await page.getByRole("row", { name: /prazo/ }).getByRole("button").count(), 0);
      await screenshot(page, "20-canned-responses", "console-canned-responses.png");

      const customer = await customerWrites(browser, engine.base, webchat.id, "Oi, quero o reembolso do pedido 7788");
      await page.getByRole("link", { name: "Caixa de entrada" }).click();
      const conversationId = await conversationOf(rest, webchat.id, dora.id);
      await openFromList(page, conversationId);
      await page.getByRole("log").getByText("quero o reembolso do pedido 7788").waitFor(WAIT);
      await page.getByText("Responsável: você").waitFor(WAIT);

      // A private note (key n): yellow, labelled staff-only, in the timeline.
      await page.keyboard.press("n");
      assert.ok(await page.getByRole("radio", { name: "Nota interna" }).isChecked());
      const noteBox = page.getByLabel("Nota interna (só a equipe vê)");
      await noteBox.fill(NOTE);
      await noteBox.press("Enter");
      const note = page.getByRole("log").getByRole("article", { name: "Nota interna · só a equipe vê" });
      await note.getByText(NOTE).waitFor(WAIT);
      assert.equal(await noteBox.inputValue(), "", "a saved note leaves the box");
      await noteBox.fill("(rascunho de outra nota)");
      await screenshot(page, "20-private-note", "console-private-note.png");
      await noteBox.fill("");

      // A canned response with "/": the list filters as she types, Enter inserts the text.
      await page.getByRole("radio", { name: "Responder ao cliente" }).check();
      const reply = page.getByLabel("Resposta", { exact: true });
      await reply.pressSequentially("/", { delay: 30 });
      const options = page.getByRole("listbox", { name: "Respostas prontas" });
      await options.getByRole("option", { name: /\/prazo/ }).waitFor(WAIT);
      await options.getByRole("option", { name: /\/obrigada/ }).waitFor(WAIT);
      await reply.pressSequentially("pr", { delay: 30 });
      await options.getByRole("option", { name: /\/obrigada/ }).waitFor({ state: "detached", ...WAIT });
      assert.equal(await options.getByRole("option").count(), 1);
      await screenshot(page, "20-canned-picker", "console-canned-picker.png");
      await reply.press("Enter");
      assert.equal(await reply.inputValue(), DEADLINE, "Enter inserts the expansion");
      await reply.press("Enter");
      await customer.page.getByRole("log").getByText(DEADLINE).waitFor(WAIT);
      await page.getByRole("log").locator("article.mine").getByText(DEADLINE).waitFor(WAIT);
      // The server expands a typed shortcut too, the same way: her own one, with Tab.
      await reply.pressSequentially("/obr", { delay: 30 });
      await options.getByRole("option", { name: /\/obrigada/ }).waitFor(WAIT);
      await reply.press("Tab");
      assert.equal(await reply.inputValue(), THANKS);
      await reply.press("Enter");
      await customer.page.getByRole("log").getByText(THANKS).waitFor(WAIT);
      // The customer has both answers (a positive signal); the note is on no customer screen.
      assert.equal(await customer.page.getByText(NOTE).count(), 0, "the customer never sees a private note");
      assert.equal(await customer.page.getByText("Nota interna").count(), 0);
      await screenshot(page, "20-after-canned-replies");
      await screenshot(customer.page, "20-customer-without-the-note");

      // Ticket fields beside the conversation.
      const ticket = page.getByRole("region", { name: "Ticket" });
      await ticket.getByLabel("Etiquetas").fill("reembolso, pedido-7788");
      await ticket.getByLabel("Prioridade").selectOption({ label: "Alta" });
      await ticket.getByLabel("Categoria").fill("complaint");
      await ticket.getByLabel("Etapa").selectOption({ label: "Reembolso" });
      await ticket.getByLabel("Departamento").selectOption({ label: "Cobrança" });
      await ticket.getByRole("button", { name: "Salvar ticket" }).click();
      await ticket.getByText("Ticket salvo.").waitFor(WAIT);
      const saved = await rest.get(`/api/v1/conversations/${conversationId}`);
      assert.deepEqual(saved.tags, ["reembolso", "pedido-7788"]);
      assert.equal(saved.priority, "high");
      assert.equal(saved.category, "complaint");
      assert.equal(saved.stage_id, stage.id);
      assert.equal(saved.department_id, department.id);
      await screenshot(page, "20-ticket-fields", "console-ticket-fields.png");

      // Edu comes online; Dora transfers to him with a note.
      const eduContext = await browser.newContext(DESKTOP);
      const eduPage = await eduContext.newPage();
      await signIn(eduPage, engine.base, EDU);
      await page.getByRole("button", { name: "Transferir" }).click();
      const form = page.getByRole("form", { name: "Transferir conversa" });
      const to = form.getByLabel("Para", { exact: true });
      await to.locator("option", { hasText: `${EDU.name} (online)` }).waitFor({ state: "attached", ...WAIT });
      await to.selectOption({ label: `${EDU.name} (online)` });
      await form.getByLabel("Nota para quem recebe").fill(TRANSFER_NOTE);
      await screenshot(page, "20-transfer-form", "console-transfer.png");
      await form.getByRole("button", { name: "Transferir" }).click();
      await page.getByText(`Responsável: ${EDU.name}`).waitFor(WAIT);

      // Edu gets it live and reads the hand-over note in the timeline.
      await openFromList(eduPage, conversationId);
      await eduPage.getByText("Responsável: você").waitFor(WAIT);
      const handover = eduPage.getByRole("log").getByRole("article", { name: "Nota de transferência · só a equipe vê" });
      await handover.getByText(TRANSFER_NOTE).waitFor(WAIT);
      await handover.getByText(DORA.name).waitFor(WAIT);
      await eduPage.getByRole("log").getByRole("article", { name: "Nota interna · só a equipe vê" }).getByText(NOTE).waitFor(WAIT);
      await screenshot(eduPage, "20-transfer-received");
      const notes = await rest.get(`/api/v1/conversations/${conversationId}/notes`);
      assert.deepEqual(
        notes.items.map((n) => [n.kind, n.content, n.author_id]),
        [
          ["note", NOTE, dora.id],
          ["transfer", TRANSFER_NOTE, dora.id],
        ],
      );

      // Edu sends it on to the Cobrança department's queue: nobody owns it, it waits there.
      await eduPage.getByRole("button", { name: "Transferir" }).click();
      const eduForm = eduPage.getByRole("form", { name: "Transferir conversa" });
      const eduTo = eduForm.getByLabel("Para", { exact: true });
      await eduTo.locator("option", { hasText: "Cobrança" }).waitFor({ state: "attached", ...WAIT });
      await eduTo.selectOption({ label: "Cobrança" });
      await eduForm.getByRole("button", { name: "Transferir" }).click();
      await eduPage.getByText("Responsável: ninguém").waitFor(WAIT);
      const queued = await rest.get(`/api/v1/conversations/${conversationId}`);
      assert.equal(queued.owner.type, "none");
      assert.equal(queued.department_id, department.id);
      assert.equal(queued.status, "queued");
      await customer.context.close();
      await eduContext.close();
      await doraContext.close();
    },
  ],
  [
    "a web-chat customer rates the service 1–5 after the agent closes the conversation, and the rating is stored",
    async ({ engine, browser, rest }) => {
      const { dora, webchat } = await dorasShop(rest, "Loja (CSAT)");
      await rest.patch("/api/v1/settings", { csat: { enabled: true, question: "De 1 a 5, como você avalia o atendimento?" } });
      try {
        const before = await rest.get("/api/v1/analytics/csat");
        const doraContext = await browser.newContext(DESKTOP);
        const page = await doraContext.newPage();
        await signIn(page, engine.base, DORA);
        const customer = await customerWrites(browser, engine.base, webchat.id, "Meu cupom não funcionou");
        await openFromList(page, await conversationOf(rest, webchat.id, dora.id));
        await page.getByRole("log").getByText("Meu cupom não funcionou").waitFor(WAIT);
        const reply = page.getByLabel("Resposta", { exact: true });
        await reply.fill("Pronto, apliquei o desconto no seu pedido.");
        await reply.press("Enter");
        await customer.page.getByRole("log").getByText("apliquei o desconto").waitFor(WAIT);
        await page.getByRole("button", { name: "Encerrar" }).click();

        // The engine asks; the page offers five stars.
        await customer.page.getByText("De 1 a 5, como você avalia o atendimento?").waitFor(WAIT);
        const stars = customer.page.getByRole("group", { name: "Como foi o atendimento?" });
        for (const label of ["1 estrela", "2 estrelas", "3 estrelas", "4 estrelas", "5 estrelas"]) {
          await stars.getByRole("button", { name: label, exact: true }).waitFor(WAIT);
        }
        await screenshot(customer.page, "21-csat-stars", "console-csat-stars.png");
        await stars.getByRole("button", { name: "4 estrelas", exact: true }).click();
        await customer.page.getByRole("status").filter({ hasText: "Obrigado pela avaliação!" }).waitFor(WAIT);
        await customer.page.getByText("Avaliação: ★★★★☆ (4 de 5)").waitFor(WAIT);
        assert.equal(await stars.count(), 0, "the stars give way to the thank-you");
        await screenshot(customer.page, "21-csat-thanks", "console-csat-thanks.png");

        // Stored as the closed conversation's rating (the thank-you follows the server's ack).
        const after = await rest.get("/api/v1/analytics/csat");
        assert.equal(after.rated, before.rated + 1);
        assert.equal(after.distribution["4"], before.distribution["4"] + 1);
        const { items } = await rest.get(`/api/v1/conversations?integration_id=${webchat.id}`);
        assert.equal(items.length, 1, "the rating opened no new conversation");
        assert.equal(items[0].status, "closed");
        await customer.context.close();
        await doraContext.close();
      } finally {
        await rest.patch("/api/v1/settings", { csat: null });
      }
    },
  ],
];
