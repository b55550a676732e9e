// A receiver for what chathook's http_forward plugin POSTs: it checks each request's Standard
// Webhooks signature with the `standardwebhooks` package, acts on each webhook-id once, and
// logs one JSON line per request. Copy it and put your work where the log line is written.
//
//   PORT=8090 WEBHOOK_SECRET=whsec_... node server.js
//
// PORT      port to listen on (default 3000; 0 picks a free one); "listening on <port>" is the
//           first line on stdout either way
// HOST      address to listen on (default 127.0.0.1; 0.0.0.0 in a container)
// WEBHOOK_SECRET
//           the endpoint's whsec_ secret, or two separated by a comma while rotating: a request
//           is accepted when it is signed with either

"use strict";

const http = require("node:http");
const { Webhook, WebhookVerificationError } = require("standardwebhooks");

// chathook's default server.body_limit_bytes: it forwards nothing larger than it accepted.
const MAX_BODY_BYTES = 4 * 1024 * 1024;
// Ids remembered for deduplication; the oldest is forgotten first. chathook retries a delivery
// for as long as its queue policy allows (max_age_secs), so a real service keeps ids at least
// that long, in its database, where a restart or a second replica sees them too.
const REMEMBERED_IDS = 100_000;

function fail(message) {
  process.stderr.write(`webhook-receiver: ${message}\n`);
  process.exit(1);
}

function listenPort() {
  const text = process.env.PORT ?? "3000";
  const port = Number(text);
  if (!/^\d+$/.test(text) || port > 65535) {
    fail(`PORT must be a port number from 0 to 65535, not ${JSON.stringify(text)}`);
  }
  return port;
}

// One Webhook per secret: the package checks a request against one key. With two, a request
// signed with either is accepted, so the receiver can take a new secret before chathook signs
// with it, and keep the old one until chathook no longer does.
function verifiers() {
  const text = process.env.WEBHOOK_SECRET ?? "";
  const secrets = text.split(",").map((secret) => secret.trim());
  if (text.trim() === "" || secrets.length > 2 || secrets.some((secret) => secret === "")) {
    fail("WEBHOOK_SECRET must be one whsec_ secret, or two separated by a comma while rotating");
  }
  return secrets.map((secret, index) => {
    if (!secret.startsWith("whsec_")) {
      fail(`WEBHOOK_SECRET: secret ${index + 1} does not start with whsec_ (the form chathook's config uses)`);
    }
    try {
      return new Webhook(secret);
    } catch (error) {
      fail(`WEBHOOK_SECRET: secret ${index + 1} is not whsec_ followed by base64: ${error.message}`);
    }
  });
}

const webhooks = verifiers();
const processed = new Map();

// Throws unless one of the secrets signed the request. Every secret gives the same answer on a
// missing header or a stale timestamp, and only the signature check tells them apart, so the
// first secret's error is the one to report.
function verify(body, headers) {
  let firstError;
  for (const webhook of webhooks) {
    try {
      // The body is parsed after the check, by the code that acts on it.
      webhook.verify(body, headers, { jsonParse: false });
      return;
    } catch (error) {
      if (!(error instanceof WebhookVerificationError)) {
        throw error;
      }
      firstError ??= error;
    }
  }
  throw firstError;
}

function remember(id) {
  processed.set(id, Date.now());
  if (processed.size > REMEMBERED_IDS) {
    processed.delete(processed.keys().next().value);
  }
}

function log(entry) {
  process.stdout.write(`${JSON.stringify(entry)}\n`);
}

function answer(response, status, reason) {
  if (reason === undefined) {
    response.writeHead(status).end();
  } else {
    response.writeHead(status, { "content-type": "text/plain; charset=utf-8" }).end(`${reason}\n`);
  }
}

function handle(request, response, body, entry) {
  try {
    // The raw bytes as they came: the signature covers them, not a re-serialised object.
    verify(body, request.headers);
  } catch (error) {
    if (!(error instanceof WebhookVerificationError)) {
      throw error;
    }
    entry.error = error.message;
    entry.status = 400;
    log(entry);
    // A 4xx tells chathook not to retry: the same bytes would fail the same way.
    return answer(response, 400, entry.error);
  }
  entry.verified = true;
  entry.status = 204;
  // At-least-once delivery: chathook sends a callback again when it did not see this answer,
  // under the same webhook-id. Acknowledge a repeat without acting on it a second time.
  if (processed.has(entry.id)) {
    entry.repeat = true;
    log(entry);
    return answer(response, 204);
  }
  // Your work goes here, on JSON.parse(body) (Chat's callback, as Chat sent it) and the
  // chathook-* headers; here the log line is all the work there is. Remember the id only once
  // the work succeeded: if it throws, the answer is a 500 and chathook retries.
  log(entry);
  remember(entry.id);
  return answer(response, 204);
}

const server = http.createServer((request, response) => {
  const entry = {
    id: request.headers["webhook-id"] ?? null,
    command: request.headers["chathook-command"] ?? null,
    sdk_app_id: request.headers["chathook-sdk-app-id"] ?? null,
    verified: false,
    repeat: false,
    status: null,
    error: null,
  };
  const refuse = (status, reason, logged = reason) => {
    entry.status = status;
    entry.error = logged;
    log(entry);
    answer(response, status, reason);
  };
  if (request.method !== "POST") {
    response.setHeader("allow", "POST");
    return refuse(405, "only POST is accepted");
  }
  const chunks = [];
  let length = 0;
  let tooLarge = false;
  request.on("data", (chunk) => {
    length += chunk.length;
    if (tooLarge) {
      return;
    }
    if (length > MAX_BODY_BYTES) {
      tooLarge = true;
      response.setHeader("connection", "close");
      return refuse(413, `body larger than ${MAX_BODY_BYTES} bytes`);
    }
    chunks.push(chunk);
  });
  request.on("end", () => {
    if (tooLarge) {
      return;
    }
    try {
      handle(request, response, Buffer.concat(chunks), entry);
    } catch (error) {
      // The cause goes to the log, not to the sender.
      refuse(500, "internal error", String(error));
    }
  });
});

server.listen(listenPort(), process.env.HOST ?? "127.0.0.1", () => {
  process.stdout.write(`listening on ${server.address().port}\n`);
});

for (const signal of ["SIGTERM", "SIGINT"]) {
  process.on(signal, () => server.close(() => process.exit(0)));
}
