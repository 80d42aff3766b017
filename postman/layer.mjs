// The reviewed layer on top of the generated collection: what each request sends and what its
// tests check. build.mjs generates the requests from the OpenAPI document (openapi-to-postmanv2)
// and refuses to build when an operation has no entry here, or an entry matches no operation,
// so the collection cannot drift from the API.
//
// Each entry is keyed by "METHOD /openapi/path" and lists the requests made from that
// operation (usually one; a few operations also get seed-payload variants). A request says:
//   name      the request's name in the collection
//   body      the JSON body sent (seed payloads where the seed had one)
//   formdata  the parts of a multipart body instead: {key, type: "file", src} (a path from the
//             repository root, where newman runs) or {key, type: "text", value}
//   headers   extra headers, e.g. Idempotency-Key
//   path      values of the path variables
//   query     query parameters sent
//   status    the expected status code(s)
//   fields    fields the JSON answer must have; absent: fields it must not have
//   tests     extra test lines (Postman sandbox JavaScript), e.g. keeping an id for later requests
// Requests run folder by folder, in the order below; {{runId}} makes ids unique per run so the
// collection can run again and again against the same server.

const SEED_SCORE = { age: 35, revenu: 50000, historique_impaye: 1 };
// The first profiles of the seed's postman/batch_profiles.json (tests/data/batch_profiles.json).
const SEED_PROFILE_SCORE = { client_id: 'C1001', age: 42, revenu: 82000, historique_impaye: 0, montant_credit: 20000 };
const SEED_FRAUDE = { transaction_id: 'TX12345-{{runId}}', montant: 2000, type: 'virement', client_id: 'C1001' };
const SEED_PROFILE_FRAUDE = {
  transaction_id: 'T-A001-{{runId}}',
  client_id: 'C1001',
  montant: 1500.0,
  type: 'paiement',
  devise: 'USD',
  date_transaction: '2025-10-25T09:12:00Z',
};

const DECISION = ['id', 'probability_default', 'prediction', 'decision', 'risk_level', 'threshold_used',
  'model_version', 'reasons'];
const FRAUD_DECISION = ['transaction_id', 'fraud_score', 'risk_level', 'decision', 'triggered_rules', 'model_version',
  'alert_id', 'check_id'];
const SEED_SCORE_FIELDS = ['score', 'message'];
const SEED_FRAUDE_FIELDS = ['risque', 'alert', 'message'];
const PAGE = ['count', 'results'];

export const FOLDERS = [
  {
    name: 'Health',
    description: 'No credentials needed.',
    requests: {
      'GET /api/v1/health': [
        { name: 'Health', status: 200, fields: ['status', 'checks'],
          tests: ["pm.test('the platform can serve', () => pm.expect(pm.response.json().status).to.be.oneOf(['ok', 'degraded']));"] },
      ],
    },
  },
  {
    name: 'Credit decisions',
    description: 'POST /score at the root (seed clients: the answer also carries score and message) and under /api/v1 (the clean contract, for new integrations).',
    requests: {
      'POST /score': [
        { name: 'Score the seed 000 payload (root path)', body: SEED_SCORE, status: 201,
          fields: [...DECISION, ...SEED_SCORE_FIELDS],
          tests: [
            "pm.test('score is probability_default', () => pm.expect(pm.response.json().score).to.eql(pm.response.json().probability_default));",
            "pm.collectionVariables.set('predictionId', pm.response.json().id);",
          ] },
        { name: 'Score a seed batch profile with montant_credit (root path)', body: SEED_PROFILE_SCORE,
          headers: { 'Idempotency-Key': 'seed-{{runId}}' }, status: 201, fields: [...DECISION, ...SEED_SCORE_FIELDS],
          tests: ["pm.collectionVariables.set('seedDecision', pm.response.text());"] },
        { name: 'Replay it with the same Idempotency-Key', body: SEED_PROFILE_SCORE,
          headers: { 'Idempotency-Key': 'seed-{{runId}}' }, status: 200, fields: SEED_SCORE_FIELDS,
          tests: [
            "pm.test('it is marked as a replay', () => pm.response.to.have.header('Idempotent-Replayed', 'true'));",
            "pm.test('the same answer, seed fields included', () => pm.expect(pm.response.json()).to.eql(JSON.parse(pm.collectionVariables.get('seedDecision'))));",
          ] },
        { name: 'montant_credit together with amount is a 400 naming both', body: { ...SEED_PROFILE_SCORE, amount: 20000 },
          status: 400, fields: ['error', 'fields'],
          tests: ["pm.test('the error names both', () => { const m = pm.response.json().fields.montant_credit[0]; pm.expect(m).to.include('montant_credit').and.to.include('amount'); });"] },
      ],
      'POST /api/v1/score': [
        { name: 'Score a seed batch profile (/api/v1)', body: SEED_PROFILE_SCORE, status: 201, fields: DECISION,
          absent: SEED_SCORE_FIELDS },
      ],
      'POST /api/v1/score/batch': [
        { name: 'Score two applicants at once', body: { items: [SEED_SCORE, SEED_PROFILE_SCORE] }, status: 201,
          fields: ['count', 'results'],
          tests: ["pm.test('both are decided', () => pm.expect(pm.response.json().count).to.eql(2));"] },
      ],
      'POST /api/v1/score/batch-jobs': [
        { name: 'Submit a batch file (seed columns, one bad row)',
          formdata: [{ key: 'file', type: 'file', src: 'postman/data/seed-applicants.csv' }], status: 202,
          fields: ['id', 'status', 'url', 'result_url', 'rejects_url', 'total_rows'],
          tests: [
            "pm.test('the job counts every row of the file', () => pm.expect(pm.response.json().total_rows).to.eql(4));",
            "pm.test('Location names the job', () => pm.expect(pm.response.headers.get('Location')).to.eql(pm.response.json().url));",
            "pm.collectionVariables.set('batchJobId', pm.response.json().id);",
          ] },
      ],
      'GET /api/v1/score/batch-jobs': [
        { name: 'My batch jobs', status: 200, fields: PAGE },
      ],
      'GET /api/v1/score/batch-jobs/{id}': [
        { name: 'A batch job and its progress', path: { id: '{{batchJobId}}' }, status: 200,
          fields: ['id', 'status', 'total_rows', 'rows_scored', 'rows_rejected'] },
      ],
      'GET /api/v1/score/batch-jobs/{id}/result': [
        // 200 with the CSV once the workers finished it, 409 while they are at it.
        { name: 'Its result file (CSV)', path: { id: '{{batchJobId}}' }, status: [200, 409] },
      ],
      'GET /api/v1/score/batch-jobs/{id}/rejects': [
        { name: 'Its rejected rows (CSV)', path: { id: '{{batchJobId}}' }, status: [200, 409] },
      ],
      'POST /api/v1/score/batch-jobs/{id}/cancel': [
        // 200 (cancelled) if the workers have not finished it yet, 409 naming its status once they have.
        { name: 'Cancel it (if it still runs)', path: { id: '{{batchJobId}}' }, status: [200, 409] },
      ],
    },
  },
  {
    name: 'Fraud decisions',
    description: 'POST /fraude at the root (seed clients: the answer also carries risque, alert and message) and under /api/v1.',
    requests: {
      'POST /fraude': [
        { name: 'Screen the seed 000 payload (root path)', body: SEED_FRAUDE, status: 201,
          fields: [...FRAUD_DECISION, ...SEED_FRAUDE_FIELDS],
          tests: [
            "pm.test('risque is fraud_score', () => pm.expect(pm.response.json().risque).to.eql(pm.response.json().fraud_score));",
            "pm.test('alert says whether an alert was opened', () => pm.expect(pm.response.json().alert).to.eql(pm.response.json().alert_id !== null));",
          ] },
        { name: 'Screen a seed batch profile with devise and date_transaction (root path)', body: SEED_PROFILE_FRAUDE,
          status: 201, fields: [...FRAUD_DECISION, ...SEED_FRAUDE_FIELDS],
          tests: [
            "pm.collectionVariables.set('transactionId', pm.response.json().transaction_id);",
            "pm.collectionVariables.set('seedCheck', pm.response.text());",
          ] },
        { name: 'Replay the same transaction_id', body: SEED_PROFILE_FRAUDE, status: 200, fields: SEED_FRAUDE_FIELDS,
          tests: [
            "pm.test('it is marked as a replay', () => pm.response.to.have.header('Idempotent-Replayed', 'true'));",
            "pm.test('the same answer, seed fields included', () => pm.expect(pm.response.json()).to.eql(JSON.parse(pm.collectionVariables.get('seedCheck'))));",
          ] },
        { name: 'A deposit spelled Dépôt', body: { ...SEED_FRAUDE, transaction_id: 'DEP-{{runId}}', type: 'Dépôt' },
          status: 201, fields: FRAUD_DECISION },
        { name: 'devise together with currency is a 400 naming both',
          body: { ...SEED_PROFILE_FRAUDE, transaction_id: 'T-BAD-{{runId}}', currency: 'USD' }, status: 400,
          fields: ['error', 'fields'],
          tests: ["pm.test('the error names both', () => { const m = pm.response.json().fields.devise[0]; pm.expect(m).to.include('devise').and.to.include('currency'); });"] },
      ],
      'POST /api/v1/fraude': [
        { name: 'Screen a transaction (/api/v1)',
          body: { ...SEED_PROFILE_FRAUDE, transaction_id: 'T-V1-{{runId}}', country: 'FR', channel: 'web' },
          status: 201, fields: FRAUD_DECISION, absent: SEED_FRAUDE_FIELDS },
      ],
    },
  },
  {
    name: 'Clients',
    description: 'Identity records by external id (analyst and admin write; no DELETE: erasure is a GDPR request).',
    requests: {
      'POST /api/v1/clients/': [
        { name: 'Create a client',
          body: { client_id: 'PM-{{runId}}', first_name: 'Camille', last_name: 'Martin', email: 'camille.martin@example.test',
            birth_date: '1986-04-02' },
          status: 201, fields: ['client_id', 'first_name', 'created_at'] },
      ],
      'GET /api/v1/clients/': [
        { name: 'List clients', query: { client_id: 'PM-{{runId}}' }, status: 200, fields: PAGE,
          tests: ["pm.test('the new client is listed', () => pm.expect(pm.response.json().count).to.eql(1));"] },
      ],
      'GET /api/v1/clients/{client_id}/': [
        { name: 'A client', path: { client_id: 'PM-{{runId}}' }, status: 200, fields: ['client_id', 'email'] },
      ],
      'PUT /api/v1/clients/{client_id}/': [
        { name: "Replace a client's identity", path: { client_id: 'PM-{{runId}}' },
          body: { client_id: 'PM-{{runId}}', first_name: 'Camille', last_name: 'Martin-Durand' }, status: 200,
          tests: ["pm.test('the new name is kept', () => pm.expect(pm.response.json().last_name).to.eql('Martin-Durand'));"] },
      ],
      'PATCH /api/v1/clients/{client_id}/': [
        { name: 'Change one field', path: { client_id: 'PM-{{runId}}' }, body: { phone: '+33 6 12 34 56 78' },
          status: 200,
          tests: ["pm.test('the other fields stay', () => pm.expect(pm.response.json().last_name).to.eql('Martin-Durand'));"] },
      ],
    },
  },
  {
    name: 'Stored decisions',
    description: 'Credit decisions and transactions with their fraud checks, read back (viewer, analyst, admin).',
    requests: {
      'GET /api/v1/predictions/': [
        { name: 'List credit decisions', query: { client_id: 'C1001' }, status: 200, fields: PAGE },
      ],
      'GET /api/v1/predictions/{id}/': [
        { name: 'A credit decision with its input snapshot', path: { id: '{{predictionId}}' }, status: 200,
          fields: [...DECISION, 'features', 'status', 'automated_decision', 'final_decision', 'refusal_reasons'],
          absent: SEED_SCORE_FIELDS,
          tests: ["pm.test('refusal_reasons: the codes an underwriter stated, else empty', () => { const d = pm.response.json(); pm.expect(d.refusal_reasons).to.be.an('array'); d.refusal_reasons.forEach((r) => { pm.expect(r).to.have.all.keys(['code', 'title', 'sentence']); pm.expect(r.code).to.match(/^U\\d\\d$/); }); if (d.decided_by === 'model') pm.expect(d.refusal_reasons).to.eql([]); });"] },
      ],
      'GET /api/v1/predictions/{id}/notice': [
        { name: 'The adverse-action notice of a final refusal (409 when it is not one)', path: { id: '{{predictionId}}' },
          status: [200, 409],
          tests: ["pm.test('reasons in words, the lender, the rights', () => { if (pm.response.code === 200) { const n = pm.response.json(); pm.expect(n).to.include.all.keys(['reasons', 'lender', 'rights', 'date']); pm.expect(JSON.stringify(n.reasons)).to.not.include('null'); } });"] },
        { name: 'The same notice, printable (HTML)', path: { id: '{{predictionId}}' }, query: { format: 'html' },
          status: [200, 409] },
      ],
      'POST /api/v1/webhooks': [
        { name: 'Register a decision webhook (the secret is shown once)', body: { url: 'https://lender.example/hooks/credit' },
          status: 201, fields: ['id', 'url', 'secret'] },
      ],
      'GET /api/v1/webhooks': [
        { name: 'Your decision webhooks', status: 200,
          tests: ["pm.test('no secret in the list', () => pm.response.json().forEach((h) => pm.expect(h).to.not.have.property('secret')));"] },
      ],
      'POST /api/v1/predictions/{id}/contest': [
        { name: 'Record the applicant contesting it (reopens a review case)', path: { id: '{{predictionId}}' },
          body: { statement: 'My income has doubled since March.' }, status: [201, 409],
          tests: ["pm.test('back in the queue', () => { if (pm.response.code === 201) pm.expect(pm.response.json().status).to.eql('pending_review'); });"] },
      ],
      'GET /api/v1/transactions/': [
        { name: 'List transactions', query: { client_id: 'C1001' }, status: 200, fields: PAGE },
      ],
      'GET /api/v1/transactions/{transaction_id}/': [
        { name: 'The seed profile transaction, stored under canonical names', path: { transaction_id: '{{transactionId}}' },
          status: 200, fields: ['transaction_id', 'currency', 'timestamp', 'type', 'check'],
          tests: ["pm.test('devise is stored as currency, date_transaction as timestamp', () => { const t = pm.response.json(); pm.expect(t.currency).to.eql('USD'); pm.expect(t.timestamp).to.eql('2025-10-25T09:12:00Z'); pm.expect(t.check.features).to.not.have.property('devise'); });"] },
      ],
    },
  },
  {
    name: 'Model registry',
    description: 'Read by viewers and up; activation is for admins.',
    requests: {
      'GET /api/v1/models/': [
        { name: 'List model versions', query: { purpose: 'credit', status: 'champion' }, status: 200, fields: PAGE,
          tests: ["pm.collectionVariables.set('modelId', pm.response.json().results[0].id);"] },
      ],
      'GET /api/v1/models/{id}/': [
        { name: 'The credit champion', path: { id: '{{modelId}}' }, status: 200,
          fields: ['version', 'status', 'feature_schema', 'metrics'],
          tests: ["pm.test('its schema lists montant_credit as an alias of amount', () => pm.expect(pm.response.json().feature_schema.find((f) => f.name === 'amount').aliases).to.include('montant_credit'));"] },
      ],
      'POST /api/v1/models/{id}/activate/': [
        { name: 'Activate the champion again (admin; changes nothing)', path: { id: '{{modelId}}' },
          body: { status: 'champion' }, status: 200,
          tests: ["pm.test('it is still the champion', () => pm.expect(pm.response.json().status).to.eql('champion'));"] },
      ],
    },
  },
  {
    name: 'Model governance',
    description: 'Observed outcomes of past decisions (the loan servicing system, analysts, admins): all rows stored or none.',
    requests: {
      'POST /api/v1/outcomes': [
        { name: 'An unknown decision is a 400 naming the row; nothing is stored',
          body: { items: [{ decision_id: '00000000-0000-4000-8000-000000000000', defaulted: false, observed_on: '{{today}}', horizon_months: 12 }] },
          status: 400, fields: ['error', 'fields'],
          tests: ["pm.test('the row and field are named', () => pm.expect(pm.response.json().fields).to.have.property('items.0.decision_id'));"] },
        { name: 'Record the outcome of the first decision of this run', body: {
          items: [{ decision_id: '{{predictionId}}', defaulted: true, observed_on: '{{today}}', horizon_months: 12 }] },
          status: 201, fields: ['import_id', 'count', 'outcomes'],
          tests: ["pm.test('one outcome stored', () => pm.expect(pm.response.json().count).to.eql(1));"] },
        { name: 'The same outcome again is a duplicate (400)', body: {
          items: [{ decision_id: '{{predictionId}}', defaulted: true, observed_on: '{{today}}', horizon_months: 12 }] },
          status: 400, fields: ['error', 'fields'] },
      ],
    },
  },
];

// Runs before every request: one id per run, so that transaction and client ids never collide.
export const COLLECTION_PREREQUEST = [
  "if (!pm.collectionVariables.get('runId')) { pm.collectionVariables.set('runId', Date.now().toString(36)); }",
  "pm.collectionVariables.set('today', new Date().toISOString().slice(0, 10));",
];

/** The test script of one request, from its declared expectations. */
export function testScript(request) {
  const statuses = [].concat(request.status);
  const lines = [
    `pm.test('status ${statuses.join(' or ')}', () => pm.expect(pm.response.code).to.be.oneOf(${JSON.stringify(statuses)}));`,
  ];
  if (request.fields?.length || request.absent?.length) {
    lines.push("pm.test('a JSON answer', () => pm.response.to.be.json);");
  }
  if (request.fields?.length) {
    lines.push(`pm.test('fields ${request.fields.join(', ')}', () => pm.expect(pm.response.json()).to.include.all.keys(${JSON.stringify(request.fields)}));`);
  }
  for (const field of request.absent ?? []) {
    lines.push(`pm.test('no ${field}', () => pm.expect(pm.response.json()).to.not.have.property('${field}'));`);
  }
  return [...lines, ...(request.tests ?? [])];
}
