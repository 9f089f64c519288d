'use strict';
// ruvuma's sandbox worker. It runs one application's JavaScript for many messages, speaking
// JSON lines with the host on stdin and stdout:
//
//   host → worker  {"cmd":"initialize","javascript","filename","app_context","log_floor","cpu_ms",
//                   "config": config.get's answers by key}
//                  {"cmd":"inbound-message"|"inbound-event","job","slot","msg"}
//                  replies to the app's requests: {"cmd","cmd_id","job","reply":true,"success",...}
//                  {"cmd":"abandon","job"}
//   worker → host  {"cmd":"ready"} | {"cmd":"load-error","reason"}
//                  the app's requests: {"cmd":"kv.get","cmd_id","job","reply":false,...}
//                  {"cmd":"done","job"} | {"cmd":"error","job","reason"} | {"cmd":"abandoned","job"}
//                  {"cmd":"worker-error","reason"}
//
// Each message runs in a context slot of its own (the host never gives one slot two messages at
// once), where the app sees the global `api` Vumi's sandbox gave it, so
// `vumigo.interact(api, App)` works as it did. The host's side bounds time, memory and output,
// and the process has no network and reads only the app's folder.

const vm = require('vm');
const { createRequire } = require('module');

let script = null;
const LEVELS = ['debug', 'info', 'warning', 'error', 'critical'];
let floor = 0;
// What config.get answers, by key: the app's config never changes while the worker runs.
let configValues = Object.create(null);
// The time one message may spend running the app's code, in milliseconds (0: no limit).
let cpuLimit = 0;
// The stretch of running the app's code now going on: whose message, and since when.
let slice = null;
let filename = 'app.js';
let base = {};
const slots = [];
const jobs = new Map();
let out = [];

function send(obj) {
    if (out.length === 0) setImmediate(flush);
    out.push(JSON.stringify(obj));
}

function flush() {
    const text = out.join('\n') + '\n';
    out = [];
    process.stdout.write(text);
}

// "app.js line 12: TypeError: x is not a function": where Node reports it, in the app's file
// when the stack passes through it.
function describe(e) {
    const what = e && e.name ? e.name + ': ' + e.message : String(e);
    const stack = e && e.stack ? String(e.stack) : '';
    const escaped = filename.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    const at = new RegExp(escaped + ':(\\d+)').exec(stack);
    return filename.split('/').pop() + (at ? ' line ' + at[1] : '') + ': ' + what;
}

// The app's `require`, with Node's timers wrapped: a callback the app schedules runs as a stretch
// of the message that scheduled it (its time counts in that message's cpu_time), and not at all
// once that message has failed.
function withTimers(appRequire) {
    const real = require('timers');
    const later = (schedule) => (callback, ...rest) => {
        const state = slice && slice.state;
        if (!state || typeof callback !== 'function') return schedule(callback, ...rest);
        return schedule((...args) => {
            if (!state.abandoned) enter(state, () => callback(...args));
        }, ...rest);
    };
    const timers = Object.assign({}, real, {
        setTimeout: later(real.setTimeout),
        setInterval: later(real.setInterval),
        setImmediate: later(real.setImmediate),
    });
    const wrapped = (name) => (name === 'timers' || name === 'node:timers' ? timers : appRequire(name));
    return Object.assign(wrapped, appRequire);
}

function initialize(cmd) {
    filename = cmd.filename;
    floor = Number(cmd.log_floor) || 0;
    cpuLimit = Number(cmd.cpu_ms) || 0;
    configValues = Object.assign(Object.create(null), cmd.config || {});
    try {
        script = new vm.Script(cmd.javascript, { filename });
    } catch (e) {
        send({ cmd: 'load-error', reason: describe(e) });
        return;
    }
    const appRequire = withTimers(createRequire(filename));
    base = { require: appRequire };
    if (cmd.app_context) {
        try {
            const made = new Function('require', 'Buffer', 'return (' + cmd.app_context + ');')(appRequire, Buffer);
            Object.assign(base, made || {});
        } catch (e) {
            send({ cmd: 'load-error', reason: 'app_context: ' + describe(e) });
            return;
        }
    }
    // A trial run: a script that throws while it loads is a clear error at start.
    try {
        load(slot(0));
    } catch (e) {
        send({ cmd: 'load-error', reason: describe(e) });
        return;
    }
    send({ cmd: 'ready' });
}

// A slot: a context of its own (made once: a context costs about a millisecond) and the `api`
// the app sees in it, which sends for the message the slot holds now (`current`). The app's code
// runs again for every message, as in Vumi's process per message: a toolkit app's
// InteractionMachine serves one message (its teardown removes every listener it had).
function slot(index) {
    if (!slots[index]) {
        const s = { ctx: vm.createContext(Object.assign({}, base)), current: null };
        s.api = api(s);
        slots[index] = s;
    }
    return slots[index];
}

function load(s) {
    s.ctx.api = s.api;
    script.runInContext(s.ctx, { displayErrors: false });
}

// The reply's fields for a request the worker answers itself, or null.
function answerHere(name, msg) {
    if (name === 'config.get' && msg && typeof msg.key === 'string') {
        const value = msg.key in configValues ? configValues[msg.key] : null;
        return { value };
    }
    const level = name.startsWith('log.') ? LEVELS.indexOf(name.slice(4)) : -1;
    return level >= 0 && level < floor ? {} : null;
}

function api(s) {
    const me = {
        request(name, msg, callback) {
            const state = s.current;
            if (!state || state.abandoned) return;
            // Answered here, without a trip to the host: a log line below the host's log_level,
            // and config.get.
            const local = answerHere(name, msg);
            if (local) {
                if (typeof callback === 'function') {
                    local.cmd = name;
                    local.cmd_id = String(++state.next);
                    local.reply = true;
                    local.success = true;
                    setImmediate(() => enter(state, () => callback.call(me, local)));
                }
                return;
            }
            msg = msg || {};
            msg.cmd = name;
            msg.reply = false;
            msg.cmd_id = String(++state.next);
            msg.job = state.job;
            if (typeof callback === 'function') state.callbacks.set(msg.cmd_id, callback);
            send(msg);
        },
        log_info(text, callback) {
            me.request('log.info', { msg: text }, callback);
        },
        done() {
            const state = s.current;
            if (!state || state.done) return;
            state.done = true;
            send({ cmd: 'done', job: state.job });
            forgetIfIdle(state);
        },
        // What an app that handles no events (or no such command) gets: the message is done, as
        // there is nothing to wait for; left open, each would hold its slot until the timeout.
        on_unknown_command() {
            me.done();
        },
    };
    return me;
}

function forgetIfIdle(state) {
    if (state.done && state.callbacks.size === 0) jobs.delete(state.job);
}

// CPU time per message. The app's code runs in stretches: a message's start, each reply to one
// of its requests, each taking one line from the host in a turn of the event loop of its own,
// and what that stretch left on the process's tick and promise queues, which Node runs before
// the next turn. A stretch ends when the next turn begins; its time is the message's.
function closeSlice() {
    if (!slice) return;
    const { state, began } = slice;
    slice = null;
    state.cpu += Number(process.hrtime.bigint() - began) / 1e6;
    if (cpuLimit > 0 && state.cpu > cpuLimit && !state.done) {
        state.done = true;
        state.abandoned = true;
        state.callbacks.clear();
        send({ cmd: 'error', job: state.job, reason: 'the app ran for more than ' + cpuLimit + ' ms for one message (cpu_time)' });
        forgetIfIdle(state);
    }
}

function enter(state, f) {
    if (cpuLimit === 0) return guarded(state, f);
    closeSlice();
    slice = { state, began: process.hrtime.bigint() };
    guarded(state, f);
    setImmediate(closeSlice);
}

function guarded(state, f) {
    try {
        f();
    } catch (e) {
        if (!state.done) {
            state.done = true;
            send({ cmd: 'error', job: state.job, reason: describe(e) });
        }
        state.callbacks.clear();
        forgetIfIdle(state);
    }
}

function start(cmd) {
    const s = slot(cmd.slot);
    const state = { job: cmd.job, slot: s, next: 0, callbacks: new Map(), done: false, cpu: 0 };
    jobs.set(cmd.job, state);
    // The slot's last message has ended, and every reply for it has come (the host answers a
    // message's requests before it sees its end, and then starts the next one).
    if (s.current) jobs.delete(s.current.job);
    s.current = state;
    enter(state, () => {
        load(s);
        const name = 'on_' + cmd.cmd.replace('.', '_').replace('-', '_');
        const handler = typeof s.api[name] === 'function' ? s.api[name] : s.api.on_unknown_command;
        handler.call(s.api, { cmd: cmd.cmd, cmd_id: String(cmd.job), reply: false, msg: cmd.msg });
    });
}

function reply(cmd) {
    const state = jobs.get(cmd.job);
    if (!state) return;
    const callback = state.callbacks.get(cmd.cmd_id);
    if (!callback) return;
    state.callbacks.delete(cmd.cmd_id);
    delete cmd.job;
    enter(state, () => callback.call(state.slot.api, cmd));
    forgetIfIdle(state);
}

function handle(line) {
    let cmd;
    try {
        cmd = JSON.parse(line);
    } catch (e) {
        send({ cmd: 'worker-error', reason: 'a line from the host is not JSON: ' + e.message });
        return;
    }
    if (cmd.reply) return reply(cmd);
    switch (cmd.cmd) {
        case 'initialize':
            return initialize(cmd);
        case 'inbound-message':
        case 'inbound-event':
            return start(cmd);
        case 'abandon': {
            const state = jobs.get(cmd.job);
            if (state) {
                state.abandoned = true;
                state.done = true;
                state.callbacks.clear();
                jobs.delete(cmd.job);
            }
            return send({ cmd: 'abandoned', job: cmd.job });
        }
        default:
            send({ cmd: 'worker-error', reason: 'unknown command from the host: ' + cmd.cmd });
    }
}

process.on('uncaughtException', (e) => send({ cmd: 'worker-error', reason: describe(e) }));

// Lines from the host: with a CPU limit, each taken in a turn of the event loop of its own (see
// closeSlice); without one, as they come.
let pending = '';
const lines = [];
function nextLine() {
    closeSlice();
    if (lines.length > 0) handle(lines.shift());
}
process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk) => {
    pending += chunk;
    let at;
    while ((at = pending.indexOf('\n')) >= 0) {
        const line = pending.slice(0, at);
        pending = pending.slice(at + 1);
        if (line.length === 0) continue;
        if (cpuLimit === 0) {
            handle(line);
        } else {
            lines.push(line);
            setImmediate(nextLine);
        }
    }
});
process.stdin.on('end', () => process.exit(0));
