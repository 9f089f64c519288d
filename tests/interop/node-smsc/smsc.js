'use strict';

// Minimal SMPP 3.4 SMSC built on node-smpp, used as an independent peer in
// interop tests.
//
//   node smsc.js --system-id test --password secret
//
// Prints `listening <port>` once, then one JSON object per line.
// Reads one JSON command per line on stdin (mo, mo_ucs2, quit).

const readline = require('readline');
const smpp = require('smpp');

function parseArgs(argv) {
	const opts = { systemId: null, password: null };
	for (let i = 0; i < argv.length; i++) {
		const arg = argv[i];
		const next = () => {
			if (i + 1 >= argv.length) {
				throw new Error('missing value for ' + arg);
			}
			return argv[++i];
		};
		if (arg === '--system-id') {
			opts.systemId = next();
		} else if (arg === '--password') {
			opts.password = next();
		} else {
			throw new Error('unknown argument ' + arg);
		}
	}
	if (opts.systemId === null || opts.password === null) {
		throw new Error('usage: node smsc.js --system-id ID --password PASSWORD');
	}
	return opts;
}

let opts;
try {
	opts = parseArgs(process.argv.slice(2));
} catch (e) {
	process.stderr.write(e.message + '\n');
	process.exit(2);
}

function emit(obj) {
	process.stdout.write(JSON.stringify(obj) + '\n');
}

function emitError(err) {
	emit({ event: 'error', error: String(err && err.message ? err.message : err) });
}

// node-smpp decodes short_message / message_payload through its charset
// filters (data_coding 0 is treated as GSM 03.38, which is lossy), so keep a
// copy of every received PDU's raw bytes and re-read the fields from it.
const originalFromBuffer = smpp.PDU.prototype.fromBuffer;
smpp.PDU.prototype.fromBuffer = function (buffer) {
	Object.defineProperty(this, 'rawBuffer', {
		value: Buffer.from(buffer),
		enumerable: false,
		writable: true,
	});
	return originalFromBuffer.call(this, buffer);
};

// Reads mandatory parameters and TLVs of a raw PDU with node-smpp's own type
// readers but without its decode filters.
function rawFields(pdu) {
	const raw = pdu.rawBuffer;
	const result = { params: {}, tlvs: new Map() };
	if (!raw || !smpp.commands[pdu.command]) {
		return result;
	}
	const length = Math.min(raw.length, raw.readUInt32BE(0));
	const params = smpp.commands[pdu.command].params || {};
	let offset = 16;
	for (const key of Object.keys(params)) {
		if (offset >= length) {
			break;
		}
		const value = params[key].type.read(raw, offset);
		result.params[key] = value;
		offset += params[key].type.size(value);
	}
	while (offset + 4 <= length) {
		const tag = raw.readUInt16BE(offset);
		const len = raw.readUInt16BE(offset + 2);
		offset += 4;
		result.tlvs.set(tag, raw.slice(offset, Math.min(offset + len, length)));
		offset += len;
	}
	return result;
}

const TLV_MESSAGE_PAYLOAD = 0x0424;

function utf16be(text) {
	const buf = Buffer.from(text, 'utf16le');
	buf.swap16();
	return buf;
}

function receiptText(body, dataCoding, esmClass) {
	let bytes = body;
	if ((esmClass & 0x40) && bytes.length > 0) {
		bytes = bytes.slice(Math.min(bytes.length, bytes[0] + 1));
	}
	let text;
	if (dataCoding === 8) {
		const even = bytes.slice(0, bytes.length - (bytes.length % 2));
		const le = Buffer.from(even);
		le.swap16();
		text = le.toString('utf16le');
	} else {
		text = bytes.toString('latin1');
	}
	return Array.from(text)
		.slice(0, 20)
		.map((c) => (c >= ' ' && c <= '~' ? c : '?'))
		.join('');
}

function smppDate(date) {
	const two = (n) => String(n).padStart(2, '0');
	return (
		two(date.getUTCFullYear() % 100) +
		two(date.getUTCMonth() + 1) +
		two(date.getUTCDate()) +
		two(date.getUTCHours()) +
		two(date.getUTCMinutes())
	);
}

const BIND_KINDS = {
	bind_transceiver: 'transceiver',
	bind_transmitter: 'transmitter',
	bind_receiver: 'receiver',
};

// session -> { bound, kind, systemId, order }
const sessions = new Map();
let bindCounter = 0;
let nextMessageId = 0x1a2b3c;

function canReceive(state) {
	return state.bound && (state.kind === 'transceiver' || state.kind === 'receiver');
}

function canSubmit(state) {
	return state.bound && (state.kind === 'transceiver' || state.kind === 'transmitter');
}

function newestReceiving(filter) {
	let best = null;
	let bestState = null;
	for (const [session, state] of sessions) {
		if (!canReceive(state) || !session.socket.writable) {
			continue;
		}
		if (filter && !filter(state)) {
			continue;
		}
		if (!bestState || state.order > bestState.order) {
			best = session;
			bestState = state;
		}
	}
	return best;
}

function deliverPdu(fields) {
	const options = Object.assign({}, fields);
	const sm = options.short_message;
	if (sm.length > 254) {
		options.message_payload = sm;
		options.short_message = Buffer.alloc(0);
	}
	return options;
}

function sendReceipt(origin, submit) {
	let target = origin;
	const originState = sessions.get(origin);
	if (!originState || !canReceive(originState) || !origin.socket.writable) {
		target = newestReceiving((s) => s.systemId === submit.systemId);
	}
	if (!target) {
		emitError('no receiving session for receipt ' + submit.messageId);
		return;
	}
	const text =
		'id:' + submit.messageId +
		' sub:001 dlvrd:001' +
		' submit date:' + smppDate(submit.submittedAt) +
		' done date:' + smppDate(new Date()) +
		' stat:DELIVRD err:000' +
		' text:' + submit.text;
	const pdu = deliverPdu({
		source_addr_ton: submit.destTon,
		source_addr_npi: submit.destNpi,
		source_addr: submit.destinationAddr,
		dest_addr_ton: submit.sourceTon,
		dest_addr_npi: submit.sourceNpi,
		destination_addr: submit.sourceAddr,
		esm_class: 0x04,
		data_coding: 0,
		short_message: Buffer.from(text, 'ascii'),
		receipted_message_id: submit.messageId,
		message_state: 2,
	});
	const sent = target.deliver_sm(pdu, (resp) => {
		emit({ event: 'receipt_sent', message_id: submit.messageId, status: resp.command_status });
	});
	if (!sent) {
		emitError('could not send receipt ' + submit.messageId);
	}
}

function handleBind(session, pdu) {
	const state = sessions.get(session);
	const kind = BIND_KINDS[pdu.command];
	if (state.bound) {
		session.send(pdu.response({ command_status: smpp.ESME_RALYBND }));
		emitError(pdu.command + ' on an already bound session');
		return;
	}
	if (pdu.system_id !== opts.systemId || pdu.password !== opts.password) {
		session.send(pdu.response({ command_status: smpp.ESME_RBINDFAIL }));
		emit({ event: 'bind_refused', system_id: pdu.system_id });
		return;
	}
	state.bound = true;
	state.kind = kind;
	state.systemId = pdu.system_id;
	state.order = ++bindCounter;
	session.send(pdu.response({ system_id: 'nodesmsc' }));
	emit({
		event: 'bind',
		kind: kind,
		system_id: pdu.system_id,
		interface_version: pdu.interface_version,
	});
}

function handleSubmit(session, pdu) {
	const state = sessions.get(session);
	if (!canSubmit(state)) {
		session.send(pdu.response({ command_status: smpp.ESME_RINVBNDSTS }));
		emitError('submit_sm on a session not bound as transmitter or transceiver');
		return;
	}
	const raw = rawFields(pdu);
	const shortMessage = Buffer.isBuffer(raw.params.short_message)
		? raw.params.short_message
		: Buffer.alloc(0);
	const payload = raw.tlvs.has(TLV_MESSAGE_PAYLOAD) ? raw.tlvs.get(TLV_MESSAGE_PAYLOAD) : null;
	const messageId = (nextMessageId++).toString(16);
	const dataCoding = raw.params.data_coding || 0;
	const esmClass = raw.params.esm_class || 0;
	const registeredDelivery = raw.params.registered_delivery || 0;
	const submittedAt = new Date();

	session.send(pdu.response({ message_id: messageId }));
	emit({
		event: 'submit',
		message_id: messageId,
		source_addr: raw.params.source_addr,
		destination_addr: raw.params.destination_addr,
		data_coding: dataCoding,
		esm_class: esmClass,
		registered_delivery: registeredDelivery,
		short_message_hex: shortMessage.toString('hex'),
		message_payload_hex: payload ? payload.toString('hex') : null,
	});

	if (registeredDelivery & 1) {
		const body = shortMessage.length > 0 || !payload ? shortMessage : payload;
		const submit = {
			messageId: messageId,
			systemId: state.systemId,
			sourceAddr: raw.params.source_addr,
			sourceTon: raw.params.source_addr_ton || 0,
			sourceNpi: raw.params.source_addr_npi || 0,
			destinationAddr: raw.params.destination_addr,
			destTon: raw.params.dest_addr_ton || 0,
			destNpi: raw.params.dest_addr_npi || 0,
			submittedAt: submittedAt,
			text: receiptText(body, dataCoding, esmClass),
		};
		setTimeout(() => {
			try {
				sendReceipt(session, submit);
			} catch (e) {
				emitError(e);
			}
		}, 50);
	}
}

function handlePdu(session, pdu) {
	if (pdu.isResponse()) {
		return;
	}
	switch (pdu.command) {
		case 'bind_transceiver':
		case 'bind_transmitter':
		case 'bind_receiver':
			handleBind(session, pdu);
			break;
		case 'enquire_link':
			session.send(pdu.response());
			break;
		case 'unbind': {
			const state = sessions.get(session);
			state.bound = false;
			session.send(pdu.response(), () => session.close());
			emit({ event: 'unbind' });
			break;
		}
		case 'submit_sm':
			handleSubmit(session, pdu);
			break;
		default:
			session.send(pdu.response({ command_status: smpp.ESME_RINVCMDID }));
			emitError('unsupported command ' + pdu.command + ' (0x' +
				(pdu.command_id >>> 0).toString(16).padStart(8, '0') + ')');
			break;
	}
}

const server = smpp.createServer((session) => {
	sessions.set(session, { bound: false, kind: null, systemId: null, order: 0 });
	session.on('pdu', (pdu) => {
		try {
			handlePdu(session, pdu);
		} catch (e) {
			emitError(e);
		}
	});
	session.on('error', (e) => {
		emitError(e);
		// After a framing error node-smpp stops reading from the session.
		session.destroy();
	});
	session.on('close', () => {
		sessions.delete(session);
	});
});

server.on('error', (e) => emitError(e));

function sendMo(cmd, ucs2) {
	const target = newestReceiving(null);
	if (!target) {
		emit({ event: 'mo_error', error: 'no receiving session' });
		return;
	}
	const text = String(cmd.text === undefined ? '' : cmd.text);
	const pdu = deliverPdu({
		source_addr: String(cmd.from || ''),
		destination_addr: String(cmd.to || ''),
		esm_class: 0,
		data_coding: ucs2 ? 8 : 0,
		short_message: ucs2 ? utf16be(text) : Buffer.from(text, 'ascii'),
	});
	const sent = target.deliver_sm(pdu, (resp) => {
		emit({ event: 'mo_resp', status: resp.command_status });
	});
	if (!sent) {
		emit({ event: 'mo_error', error: 'no receiving session' });
	}
}

function handleCommand(line) {
	if (!line.trim()) {
		return;
	}
	let cmd;
	try {
		cmd = JSON.parse(line);
	} catch (e) {
		emitError('invalid command: ' + e.message);
		return;
	}
	switch (cmd && cmd.cmd) {
		case 'mo':
			sendMo(cmd, false);
			break;
		case 'mo_ucs2':
			sendMo(cmd, true);
			break;
		case 'quit':
			process.exit(0);
			break;
		default:
			emitError('unknown command ' + JSON.stringify(cmd && cmd.cmd));
	}
}

server.listen(0, '127.0.0.1', () => {
	process.stdout.write('listening ' + server.address().port + '\n');
	const rl = readline.createInterface({ input: process.stdin, terminal: false });
	rl.on('line', (line) => {
		try {
			handleCommand(line);
		} catch (e) {
			emitError(e);
		}
	});
	rl.on('close', () => process.exit(0));
});

process.on('uncaughtException', (e) => emitError(e));
