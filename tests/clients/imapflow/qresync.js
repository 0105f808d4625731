// A QRESYNC client's resynchronisation, driven by imapflow with
// `qresync: true`: it caches INBOX (UIDs and flags), goes away while
// another client changes flags, expunges and appends, then comes back with
// SELECT INBOX (QRESYNC (uidvalidity modseq)), applies the VANISHED and
// FETCH it is told, fetches what is new, and must end with exactly what a
// full fetch shows. Usage: node qresync.js HOST PORT USER PASS
'use strict';
const { ImapFlow } = require('imapflow');

const [host, port, user, pass] = process.argv.slice(2);

function client(qresync) {
    return new ImapFlow({
        host,
        port: Number(port),
        secure: false,
        auth: { user, pass },
        qresync,
        logger: false
    });
}

const flagsOf = set => [...set].filter(f => f !== '\\Recent').sort();

async function fullState(c) {
    const state = new Map();
    for await (const m of c.fetch('1:*', { uid: true, flags: true })) {
        state.set(Number(m.uid), flagsOf(m.flags));
    }
    return state;
}

function same(a, b) {
    return a.size === b.size && [...a].every(([k, v]) => JSON.stringify(b.get(k)) === JSON.stringify(v));
}

async function main() {
    const writer = client(false);
    await writer.connect();
    for (let i = 0; i < 8; i++) {
        await writer.append('INBOX', `From: a@example.org\r\nSubject: m${i}\r\n\r\nbody ${i}\r\n`);
    }

    // The QRESYNC client's first visit: a full sync.
    let reader = client(true);
    await reader.connect();
    if (!reader.enabled.has('QRESYNC')) throw new Error('QRESYNC not enabled');
    let box = await reader.mailboxOpen('INBOX');
    const cache = await fullState(reader);
    const uidValidity = box.uidValidity;
    const modseq = box.highestModseq;
    const uidNext = box.uidNext;
    if (!modseq) throw new Error('no HIGHESTMODSEQ');
    await reader.logout();

    // Meanwhile: flag changes, expunges, new mail.
    await writer.mailboxOpen('INBOX');
    await writer.messageFlagsAdd('2,5', ['\\Seen', '$Label1'], { uid: true });
    await writer.messageFlagsRemove('5', ['$Label1'], { uid: true });
    await writer.messageFlagsAdd('7', ['\\Flagged'], { uid: true });
    await writer.messageDelete('3,6', { uid: true });
    await writer.append('INBOX', 'From: b@example.org\r\nSubject: new\r\n\r\nnew\r\n', ['$New']);
    const expected = await fullState(writer);
    await writer.logout();

    // The second visit: QRESYNC.
    reader = client(true);
    const vanished = [];
    const changed = [];
    reader.on('expunge', e => vanished.push(e));
    reader.on('flags', e => changed.push(e));
    await reader.connect();
    box = await reader.mailboxOpen('INBOX', { uidValidity, changedSince: modseq });
    if (!box.qresync) throw new Error('the server did not resynchronise with QRESYNC');
    for (const e of vanished) {
        if (!e.vanished || !e.earlier) throw new Error('expected VANISHED (EARLIER): ' + JSON.stringify(e));
        cache.delete(Number(e.uid));
    }
    for (const e of changed) {
        cache.set(Number(e.uid), flagsOf(e.flags));
    }
    for await (const m of reader.fetch(`${uidNext}:*`, { uid: true, flags: true }, { uid: true })) {
        cache.set(Number(m.uid), flagsOf(m.flags));
    }
    await reader.logout();

    const show = m => JSON.stringify([...m]);
    if (!same(cache, expected)) {
        throw new Error(`resynchronised ${show(cache)} but the server has ${show(expected)}`);
    }
    if (vanished.length !== 2) throw new Error('expected 2 vanished UIDs, got ' + JSON.stringify(vanished));
    if (changed.length < 3) throw new Error('expected at least 3 changed messages, got ' + JSON.stringify(changed));
    console.log(`imapflow qresync: OK (${vanished.length} vanished, ${changed.length} changed, ${cache.size} messages)`);
}

main().catch(e => {
    console.error('imapflow qresync: FAILED:', e && e.stack ? e.stack : e);
    process.exit(1);
});
