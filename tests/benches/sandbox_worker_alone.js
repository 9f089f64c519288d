// ruvuma's sandbox worker (plugins/sandbox/js/bootstrap.js) running tests/fixtures/sandbox/bench.js,
// driven by this script as the host drives it: `slots` messages at once, each request answered
// here (kv in a Map). It shows what a worker does with the host's side taken away, and lets
// Node's flags be compared; run two at once to see two workers share the cores.
//
//   [SLOTS=8] [NODE_FLAGS="--single-threaded-gc ..."] node tests/benches/sandbox_worker_alone.js [messages]
const { spawn } = require('child_process');
const fs = require('fs');
const path = require('path');

const app = path.join(__dirname, '../fixtures/sandbox/bench.js');
const bootstrap = path.join(__dirname, '../../plugins/sandbox/js/bootstrap.js');
const flags = (process.env.NODE_FLAGS || '--max-semi-space-size=32 --single-threaded-gc --no-allocation-site-pretenuring')
    .split(' ')
    .filter(Boolean);
const total = Number(process.argv[2] || 4000);
const slots = Number(process.env.SLOTS || 8);
const worker = spawn(process.execPath, [...flags, bootstrap], { stdio: ['pipe', 'pipe', 'inherit'] });
const kv = new Map();
const jobs = new Map();
let out = [];
let next = 1;
let done = 0;
let replies = 0;
let started;

function send(obj) {
    if (out.length === 0) {
        setImmediate(() => {
            worker.stdin.write(out.join('\n') + '\n');
            out = [];
        });
    }
    out.push(JSON.stringify(obj));
}

// A message as the telnet transport makes it.
function start(slot) {
    const i = next++;
    const msg = {
        message_version: '20110921', message_type: 'user_message', timestamp: '2026-12-04 08:10:00.123456',
        routing_metadata: { endpoint_name: 'default' }, helper_metadata: {}, transport_metadata: {},
        message_id: '6a1f0c2e9b7d4e3f8a2b1c0d9e8f' + i, in_reply_to: null, session_event: null,
        content: 'm' + i, to_addr: '127.0.0.1:40000', from_addr: '127.0.0.1:' + (50000 + (i % 64)),
        transport_name: 'tel', transport_type: 'telnet', group: null, provider: null,
    };
    jobs.set(i, slot);
    send({ cmd: 'inbound-message', job: i, slot, msg });
}

// The worker's CPU time (user and system, in Linux's clock ticks of 1/100 s) since it was ready,
// per message, in µs: a figure the machine's other load moves less than the rate.
let cpuAtStart = 0;
function cpuTicks() {
    const stat = fs.readFileSync('/proc/' + worker.pid + '/stat', 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[11]) + Number(fields[12]);
}
function workerCpu() {
    return ((cpuTicks() - cpuAtStart) / 100) * 1e6 / total;
}

function heard(m) {
    if (m.cmd === 'ready') {
        started = process.hrtime.bigint();
        cpuAtStart = cpuTicks();
        for (let s = 0; s < slots; s++) start(s);
        return;
    }
    if (m.cmd === 'done' || m.cmd === 'error') {
        if (m.cmd === 'error') console.error(m.reason);
        const slot = jobs.get(m.job);
        jobs.delete(m.job);
        done++;
        if (done === total) {
            const seconds = Number(process.hrtime.bigint() - started) / 1e9;
            console.log(total + ' messages, ' + (total / seconds).toFixed(0) + '/s, ' + replies + ' replies, ' +
                workerCpu().toFixed(0) + ' µs of the worker\'s CPU per message');
            worker.stdin.end();
        } else if (next <= total) {
            start(slot);
        }
        return;
    }
    const reply = { cmd: m.cmd, cmd_id: m.cmd_id, job: m.job, reply: true, success: true };
    if (m.cmd === 'config.get') reply.value = m.key === 'config' ? '{"name":"bench"}' : null;
    if (m.cmd === 'kv.get') reply.value = kv.has(m.key) ? kv.get(m.key) : null;
    if (m.cmd === 'kv.set') kv.set(m.key, m.value);
    if (m.cmd === 'outbound.reply_to') replies++;
    send(reply);
}

let pending = '';
worker.stdout.setEncoding('utf8');
worker.stdout.on('data', (chunk) => {
    pending += chunk;
    let at;
    while ((at = pending.indexOf('\n')) >= 0) {
        const line = pending.slice(0, at);
        pending = pending.slice(at + 1);
        // What Node itself prints (--trace-gc in NODE_FLAGS) goes to stderr.
        if (!line.startsWith('{')) {
            console.error(line);
            continue;
        }
        heard(JSON.parse(line));
    }
});
send({ cmd: 'initialize', javascript: fs.readFileSync(app, 'utf8'), filename: app, app_context: null, log_floor: 2, cpu_ms: 5000,
    config: { config: '{"name":"bench"}' } });
