// socket.io 4.8 on Node 20 doing what Atende's /ws does in benches/ws_compare.rs, minus the
// durable store: rooms, a broadcast per staff message with an acknowledgement to its
// sender, and an application-level ping. Prints `@@port N`, serves until stdin closes.
'use strict';
const { createServer } = require('node:http');
const { Server } = require('socket.io');

const http = createServer();
const io = new Server(http, {
  transports: ['websocket'],
  serveClient: false,
  perMessageDeflate: false,
  // As the engine under test: a server ping every 30 s, a client silent for 120 s is dropped.
  pingInterval: 30000,
  pingTimeout: 120000,
});

io.on('connection', (socket) => {
  socket.on('subscribe', (conversationId, ack) => {
    socket.join(conversationId);
    if (typeof ack === 'function') ack({ ok: true });
  });
  socket.on('message', (message, ack) => {
    io.to(message.conversation_id).emit('message', message);
    if (typeof ack === 'function') ack({ client_msg_id: message.client_msg_id });
  });
  socket.on('ping_app', (ack) => {
    if (typeof ack === 'function') ack('pong');
  });
});

http.listen(0, '127.0.0.1', () => {
  process.stdout.write(`@@port ${http.address().port}\n`);
});
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
