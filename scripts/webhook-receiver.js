// A receiver written from the seed's Node.js example: it checks `X-Webhook-Signature`
// (`sha256=` and the hex HMAC-SHA256 of the raw body under the endpoint's secret).
//
//     node scripts/webhook-receiver.js 9128 <secret> <results file>
const crypto = require('crypto');
const fs = require('fs');
const http = require('http');

const [port, secret, results] = process.argv.slice(2);

function verifyWebhook(payload, signature, secret) {
  const expected = 'sha256=' + crypto.createHmac('sha256', secret).update(payload).digest('hex');
  const given = Buffer.from(signature || '');
  const wanted = Buffer.from(expected);
  return given.length === wanted.length && crypto.timingSafeEqual(given, wanted);
}

http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const body = Buffer.concat(chunks);
    const ok = verifyWebhook(body, req.headers['x-webhook-signature'], secret);
    const event = ok ? JSON.parse(body.toString('utf8')).event : '-';
    fs.appendFileSync(results, `${ok ? 'ok' : 'bad'} ${event}\n`);
    res.writeHead(ok ? 200 : 401);
    res.end();
  });
}).listen(Number(port), '127.0.0.1');
