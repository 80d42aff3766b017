// A local OpenID Connect provider for development (`make idp`) and the test suite.
// NEVER for production: any password is accepted and the keys live in memory.
//
//   node idp.mjs [PORT]                       listens on 127.0.0.1:PORT (default 9000)
//
// Users (log in with any password): admin, analyst, viewer, compliance (one role each),
// officer (group "credit-officers", for OIDC_ROLE_MAP) and norole (no group at all).
// Machine clients (client_credentials): scoring-service (analyst), reporting-service
// (viewer), norole-service (none); the secret of each is "<client_id>-secret".
//
// Environment:
//   IDP_BIND                 address to listen on (default 127.0.0.1; 0.0.0.0 in docker compose)
//   IDP_ISSUER               issuer URL as browsers reach it (default http://127.0.0.1:PORT)
//   IDP_REDIRECT_URIS        comma-separated redirect URIs of the web client "credit-app"
//                            (default http://127.0.0.1:8000/oidc/callback/ and the localhost one)
//   IDP_API_RESOURCE         resource indicator of the API (default http://127.0.0.1:8000/api)
//   IDP_API_AUDIENCE         `aud` of API access tokens (default credit-api)
//   IDP_EXPORT_PRIVATE_JWKS  tests only: write the private signing keys to this file, so the
//                            suite can sign tokens with valid keys but broken claims
//
// Test hooks (127.0.0.1 only): POST /dev/users/<id>/groups {"groups": [...]} changes a
// user's groups; GET /dev/stats returns {"jwks_requests": n}.
import Provider, { errors } from 'oidc-provider';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';

const PORT = Number(process.argv[2] || 9000);
const BIND = process.env.IDP_BIND || '127.0.0.1';
const ISSUER = process.env.IDP_ISSUER || `http://127.0.0.1:${PORT}`;
const API_RESOURCE = process.env.IDP_API_RESOURCE || 'http://127.0.0.1:8000/api';
const API_AUDIENCE = process.env.IDP_API_AUDIENCE || 'credit-api';
const REDIRECT_URIS = (process.env.IDP_REDIRECT_URIS
  || 'http://127.0.0.1:8000/oidc/callback/,http://localhost:8000/oidc/callback/').split(',').filter(Boolean);

// Fresh keys at every start, each with a unique kid: a restarted provider never reuses a
// kid for a different key (a relying party would keep the old key cached under it).
const run = randomBytes(4).toString('hex');
const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
const keys = [
  { ...rsa.export({ format: 'jwk' }), kid: `rsa-${run}`, alg: 'RS256', use: 'sig' },
  { ...ec.export({ format: 'jwk' }), kid: `ec-${run}`, alg: 'ES256', use: 'sig' },
];
if (process.env.IDP_EXPORT_PRIVATE_JWKS) {
  writeFileSync(process.env.IDP_EXPORT_PRIVATE_JWKS, JSON.stringify({ keys }), { mode: 0o600 });
}

const USERS = {
  admin: ['admin'],
  analyst: ['analyst'],
  viewer: ['viewer'],
  compliance: ['compliance'],
  officer: ['credit-officers'],
  norole: [],
};
const CLIENT_GROUPS = { 'scoring-service': ['analyst'], 'reporting-service': ['viewer'], 'norole-service': [] };
const stats = { jwks_requests: 0 };
const groupsOf = (id) => USERS[id] || [];

const machineClient = (id) => ({
  client_id: id, client_secret: `${id}-secret`, grant_types: ['client_credentials'],
  response_types: [], redirect_uris: [], token_endpoint_auth_method: 'client_secret_post',
});

const oidc = new Provider(ISSUER, {
  clients: [
    {
      client_id: 'credit-app', client_secret: 'credit-secret', redirect_uris: REDIRECT_URIS,
      post_logout_redirect_uris: REDIRECT_URIS.map((uri) => uri.replace(/oidc\/callback\/$/, 'admin/')),
      grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_post', // mozilla-django-oidc's default
    },
    ...Object.keys(CLIENT_GROUPS).map(machineClient),
  ],
  jwks: { keys },
  cookies: { keys: [randomBytes(16).toString('hex')] },
  scopes: ['openid', 'offline_access', 'email', 'profile', 'groups', 'api:read', 'api:write'],
  // Groups ride on "profile" too, so the default scopes "openid email profile" carry them.
  claims: {
    openid: ['sub'], email: ['email', 'email_verified'],
    profile: ['name', 'preferred_username', 'groups'], groups: ['groups'],
  },
  conformIdTokenClaims: false, // groups and email also in the ID token, as Keycloak does
  async findAccount(ctx, id) {
    return {
      accountId: id,
      async claims() {
        return { sub: id, email: `${id}@example.test`, email_verified: true, name: id,
                 preferred_username: id, groups: groupsOf(id) };
      },
    };
  },
  async extraTokenClaims(ctx, token) {
    if (token.accountId) return { groups: groupsOf(token.accountId) };
    if (token.clientId && token.clientId in CLIENT_GROUPS) return { groups: CLIENT_GROUPS[token.clientId] };
    return undefined;
  },
  features: {
    devInteractions: { enabled: true },
    clientCredentials: { enabled: true },
    introspection: { enabled: true },
    revocation: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => undefined,
      useGrantedResource: () => true,
      getResourceServerInfo: (ctx, resource) => {
        if (resource !== API_RESOURCE && resource !== `${API_RESOURCE}-es`) throw new errors.InvalidTarget();
        const alg = resource.endsWith('-es') ? 'ES256' : 'RS256';
        return { scope: 'api:read api:write', audience: API_AUDIENCE, accessTokenTTL: 300,
                 accessTokenFormat: 'jwt', jwt: { sign: { alg } } };
      },
    },
  },
  pkce: { required: () => true }, // the relying party must use PKCE (S256)
  ttl: {
    AccessToken: (ctx, token) => token.resourceServer?.accessTokenTTL || 300,
    ClientCredentials: (ctx, token) => token.resourceServer?.accessTokenTTL || 300,
    IdToken: 300, AuthorizationCode: 60, Session: 3600, Interaction: 600, Grant: 3600,
  },
});

async function readJson(ctx) {
  let raw = '';
  for await (const chunk of ctx.req) { raw += chunk; if (raw.length > 65536) ctx.throw(413); }
  try { return JSON.parse(raw || '{}'); } catch { return ctx.throw(400, 'invalid JSON'); }
}

oidc.use(async (ctx, next) => {
  if (ctx.path === '/jwks') stats.jwks_requests += 1;
  const match = ctx.path.match(/^\/dev\/users\/([A-Za-z0-9_.-]+)\/groups$/);
  if (match && ctx.method === 'POST') {
    const body = await readJson(ctx);
    if (!Array.isArray(body.groups) || !body.groups.every((g) => typeof g === 'string')) ctx.throw(400, 'groups: list of strings');
    USERS[match[1]] = body.groups;
    ctx.body = { user: match[1], groups: body.groups };
    return;
  }
  if (ctx.path === '/dev/stats' && ctx.method === 'GET') {
    ctx.body = stats;
    return;
  }
  await next();
});

const server = oidc.listen(PORT, BIND, () => {
  console.log(`IDP READY ${ISSUER} kids=rsa-${run},ec-${run}`);
});
const stop = () => server.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
