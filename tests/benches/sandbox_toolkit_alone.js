// The toolkit alone, without ruvuma: tests/fixtures/sandbox/bench.js run for one message after
// another in one reused context, as a sandbox slot runs it, with an `api` that answers every
// request in this process (kv in a Map). What this reaches is a ceiling for one core that no
// host around the toolkit can pass.
//
//   node [--max-semi-space-size=32] tests/benches/sandbox_toolkit_alone.js [messages]
const vm = require('vm');
const path = require('path');
const { createRequire } = require('module');

const app = path.join(__dirname, '../fixtures/sandbox/bench.js');
const script = new vm.Script(require('fs').readFileSync(app, 'utf8'), { filename: app });
const ctx = vm.createContext({ require: createRequire(app) });
const kv = new Map();
const total = Number(process.argv[2] || 3000);
const started = process.hrtime.bigint();
let done = 0;
let replies = 0;

function one(i) {
    const api = {
        request(cmd, msg, callback) {
            const reply = { cmd, success: true };
            if (cmd === 'config.get') reply.value = '{"name":"bench"}';
            if (cmd === 'kv.get') reply.value = kv.has(msg.key) ? kv.get(msg.key) : null;
            if (cmd === 'kv.set') kv.set(msg.key, JSON.parse(JSON.stringify(msg.value)));
            if (cmd === 'outbound.reply_to' && msg.content === '> x' + i) replies++;
            if (callback) setImmediate(() => callback.call(api, reply));
        },
        done() {
            done++;
            if (done < total) return setImmediate(() => one(done));
            const seconds = Number(process.hrtime.bigint() - started) / 1e9;
            console.log(total + ' messages, ' + (total / seconds).toFixed(0) + '/s, ' + replies + ' of ' +
                (total - 8) + " replies as expected (a user's first message opens a session)");
        },
        on_unknown_command() {},
    };
    ctx.api = api;
    script.runInContext(ctx);
    const msg = { message_id: 'm' + i, from_addr: 'u' + (i % 8), to_addr: 't', content: 'x' + i, session_event: null, helper_metadata: {} };
    api.on_inbound_message({ cmd: 'inbound-message', msg });
}
one(0);
