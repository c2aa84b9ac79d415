import t from 'tap'
import { postWebhook, printable } from '../../src/webhooks/post.js'

/** The delivery client's limits that need no socket: the deadline covers DNS; a receiver's text is made printable. */
t.test('a name server that never answers runs into the deadline', async (t) => {
  let answered = false
  const started = Date.now()
  const result = await postWebhook('https://hooks.example.com/x', {}, '{}', {
    timeoutMs: 50,
    allowHttp: false,
    allowPrivate: false,
    lookup: () =>
      new Promise((resolve) =>
        setTimeout(() => {
          answered = true
          resolve([{ address: '93.184.216.34', family: 4 }])
        }, 400),
      ),
  })
  t.strictSame(
    { ...result, durationMs: 0 },
    { status: null, ok: false, durationMs: 0, error: 'no response within 50 ms', responsePrefix: null },
  )
  t.notOk(answered, 'given up before the lookup answered (nothing was connected to)')
  t.ok(Date.now() - started < 400)
})

t.test("a receiver's text: control characters replaced, line breaks kept", async (t) => {
  t.equal(printable('ok\u0000\u001b[31mred\u007f\tand\nmore\r'), 'ok\ufffd\ufffd[31mred\ufffd\tand\nmore\r')
  t.equal(printable('plain'), 'plain')
})
