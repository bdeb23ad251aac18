/**
 * A child process that opens COUNT idle TCP connections to HOST:PORT and keeps them open, sending nothing: a
 * connection flood from its own file descriptors (the test process's limit stays free). Started with fork():
 * `node --import tsx test/helpers/idle-connections.ts HOST PORT COUNT`; the parent asks `report` for its counts
 * and `exit` to end it.
 */
import net from 'node:net';

const [host, portText, countText] = process.argv.slice(2);
const port = Number(portText);
const count = Number(countText);
const stats = { started: 0, connected: 0, closedByServer: 0, failed: 0, open: 0 };
const sockets = new Set<net.Socket>();
let pending = 0;
const MAX_PENDING = 256;

function openMore(): void {
  while (stats.started < count && pending < MAX_PENDING) {
    stats.started++;
    pending++;
    const socket = net.connect({ host, port });
    let connected = false;
    socket.on('connect', () => {
      connected = true;
      stats.connected++;
      stats.open++;
      sockets.add(socket);
      pending--;
      openMore();
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      sockets.delete(socket);
      if (connected) {
        stats.open--;
        stats.closedByServer++;
      } else {
        stats.failed++;
        pending--;
        openMore();
      }
    });
  }
}

process.on('message', (message) => {
  if (message === 'report') process.send?.({ ...stats, done: stats.started === count && pending === 0 });
  if (message === 'exit') {
    for (const socket of sockets) socket.destroy();
    process.exit(0);
  }
});
openMore();
