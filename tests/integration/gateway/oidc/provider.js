// A local OpenID provider for the openid-connect plugin's integration tests (npm oidc-provider).
//
//   node provider.js PORT JWKS_FILE
//
// Serves discovery (/.well-known/openid-configuration), JWKS, the token endpoint (client_credentials
// only) and RFC 7662 introspection at http://127.0.0.1:PORT. JWKS_FILE holds the private signing
// keys ({"keys": [...]}, the first one signs), written by the test, so a test restarting the
// provider with another file rotates its keys. Prints one line "ready ISSUER" when listening.
//
// Clients (client_secret_basic): "gateway-test" / "gateway-secret" may ask for tokens and
// introspect them. Resources (RFC 8707 resource indicators) decide the access token format:
//   https://api.test/          JWT, audience https://api.test/, 300 s
//   https://short.test/        JWT, 2 s (expiry tests)
//   urn:opaque:api             opaque (introspection only), 300 s
import { readFileSync } from 'node:fs';
import Provider from 'oidc-provider';

const [port, jwksFile] = process.argv.slice(2);
if (!port || !jwksFile) {
  console.error('usage: node provider.js PORT JWKS_FILE');
  process.exit(2);
}
const issuer = `http://127.0.0.1:${port}`;
const jwks = JSON.parse(readFileSync(jwksFile, 'utf8'));

const RESOURCES = {
  'https://api.test/': { format: 'jwt', ttl: 300 },
  'https://short.test/': { format: 'jwt', ttl: 2 },
  'urn:opaque:api': { format: 'opaque', ttl: 300 },
};

const provider = new Provider(issuer, {
  jwks,
  clients: [
    {
      client_id: 'gateway-test',
      client_secret: 'gateway-secret',
      grant_types: ['client_credentials'],
      redirect_uris: [],
      response_types: [],
      scope: 'read write admin',
    },
  ],
  scopes: ['openid', 'read', 'write', 'admin'],
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    introspection: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => undefined,
      useGrantedResource: () => true,
      getResourceServerInfo: (ctx, resource) => {
        const known = RESOURCES[resource];
        if (!known) throw new Provider.errors.InvalidTarget();
        return {
          scope: 'read write admin',
          audience: resource,
          accessTokenTTL: known.ttl,
          accessTokenFormat: known.format,
          jwt: { sign: { alg: jwks.keys[0].alg || 'RS256' } },
        };
      },
    },
  },
  extraTokenClaims: () => ({ tenant: 'acme' }),
});
provider.proxy = false;

const server = provider.listen(Number(port), '127.0.0.1', () => {
  console.log(`ready ${issuer}`);
});
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => server.close(() => process.exit(0)));
}
