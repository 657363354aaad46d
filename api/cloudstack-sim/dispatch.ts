/**
 * @layer usecase
 * One `/client/api` request, in the order CloudStack's ApiServlet and ApiServer handle it:
 *
 *   1. parameters: form fields, then the query string over them (utf8Fixup);
 *   2. login, logout and the other APIAuthenticator commands (listOauthProvider, forgotPassword,
 *      listGuiThemes) are answered before any session or signature check; login is POST only
 *      and sets the JSESSIONID (HttpOnly, Path /client) and sessionkey (HttpOnly) cookies;
 *   3. with a live JSESSIONID session, the sessionkey (parameter or cookie) must match it
 *      (else 401 "unable to verify user credentials"); no signature. A user with two-factor
 *      authentication whose session is not verified yet may call only
 *      validateUserTwoFactorAuthenticationCode (and listApis, listIdps,
 *      listUserTwoFactorAuthenticatorProviders); anything else is a 511 and ends the session,
 *      and so does a wrong code;
 *   4. otherwise verifyRequest: a command the simulator does not know is a 401 (CloudStack's
 *      verifyRequest returns false for it: that is what a CloudStack without SAML answers for
 *      `listIdps`); signature and apiKey present, v3 needs an unexpired `expires` (and, when
 *      enforcing, ≤ 15 min ahead), an enabled user owns the key, the role may call the command
 *      (else 432), and the HMAC of the canonical string matches — any failure is 401 "unable to
 *      verify user credentials and/or request signature";
 *   5. the command's parameters are validated and it runs; errors become CloudStack's envelope.
 */
import { randomBytes } from 'node:crypto';
import { parseExpires, signatureMatches } from '../cloudstack/signer.ts';
import { apiErrors, CS_CLOUD_RUNTIME, SimApiError } from './api-error.ts';
import { callerFor, domainPath, type Caller } from './access.ts';
import type { AnonymousCommandDef, CommandDef } from './commands/command.ts';
import { matchTotp } from './totp.ts';
import { errorBody, JSON_CONTENT_TYPE, replyBody, serialize, XML_CONTENT_TYPE, type ResponseType } from './envelope.ts';
import { parseForm, parseQuery, validateArgs } from './params.ts';
import type { SimRuntime, SimSession } from './runtime.ts';
import type { View } from './views.ts';

export interface ApiRequest {
  method: string;
  /** raw query string, without '?' */
  query: string;
  /** raw application/x-www-form-urlencoded body, or already-parsed form fields */
  form?: string | Record<string, string>;
  cookies: Record<string, string>;
  /** scheme://host[:port] the request came to */
  origin: string;
}

export interface ApiResponse {
  status: number;
  contentType: string;
  body: string;
  setCookies: string[];
}

const ENFORCE_MAX_AHEAD_MS = 15 * 60_000;

function paramIgnoringCase(params: Record<string, string>, name: string): string | undefined {
  const k = Object.keys(params).find((x) => x.toLowerCase() === name.toLowerCase());
  return k === undefined ? undefined : params[k];
}

export interface CommandRegistry {
  commands: Record<string, CommandDef>;
  anonymous: Record<string, AnonymousCommandDef>;
}

const VALIDATE_2FA = 'validateUserTwoFactorAuthenticationCode';
/** ApiServlet.skip2FAcheckForAPIs */
const ALLOWED_BEFORE_2FA = new Set(['listidps', 'listapis', 'listusertwofactorauthenticatorproviders', 'setupusertwofactorauthentication']);

export async function handleApiRequest(rt: SimRuntime, registry: CommandRegistry, req: ApiRequest): Promise<ApiResponse> {
  const { commands } = registry;
  let params: Record<string, string>;
  try {
    params = { ...(typeof req.form === 'string' ? parseForm(req.form) : req.form ?? {}), ...parseQuery(req.query) };
  } catch {
    params = {};
  }
  const type: ResponseType = params.response?.toLowerCase() === 'json' ? 'json' : 'xml';
  const command = params.command;
  const def = command ? commands[command] : undefined;
  const anon = command ? registry.anonymous[command] : undefined;
  const known = command === 'login' || command === 'logout' || command === VALIDATE_2FA || !!def || !!anon;
  const responseName = def?.responseName ?? (known ? `${command!.toLowerCase()}response` : 'errorresponse');
  const setCookies: string[] = [];
  const answer = (status: number, body: View): ApiResponse => ({
    status, contentType: type === 'json' ? JSON_CONTENT_TYPE : XML_CONTENT_TYPE,
    body: serialize(responseName, body, type, rt.state.settings.cloudstackVersion), setCookies,
  });

  try {
    if (command === 'login') return answer(200, login(rt, req, params, setCookies));
    if (command === 'logout') {
      const s = liveSession(rt, req.cookies);
      if (s) {
        rt.sessions.delete(s.id);
        const u = rt.state.users.find((x) => x.id === s.userId);
        if (u) rt.event(u.id, u.accountId, 'USER.LOGOUT', 'user has logged out');
      }
      for (const name of Object.keys(req.cookies)) setCookies.push(`${name}=; Max-Age=0; Path=/client`);
      return answer(200, { description: 'success' });
    }
    const session = liveSession(rt, req.cookies);
    if (anon) {
      if (anon.postOnly && req.method.toUpperCase() !== 'POST') throw apiErrors.methodNotAllowed('Please use HTTP POST to call this API');
      const s = session && sessionMatches(session, params, req.cookies) && session.twoFactorVerified ? session : undefined;
      const user = s && rt.state.users.find((u) => u.id === s.userId);
      const args = validateArgs(command!, anon.params, params);
      const reply = await anon.run({ rt, caller: user ? callerFor(rt.state, user) : undefined, args, command: command!, origin: req.origin, commands });
      return answer(200, replyBody(reply));
    }

    let caller: Caller;
    if (session) {
      if (!sessionMatches(session, params, req.cookies)) {
        rt.sessions.delete(session.id);
        throw apiErrors.badSession();
      }
      session.lastAccess = rt.now();
      const user = rt.state.users.find((u) => u.id === session.userId);
      if (!user || user.state !== 'enabled') { rt.sessions.delete(session.id); throw apiErrors.badSession(); }
      if (!command) throw new SimApiError(400, 'no command specified');
      caller = callerFor(rt.state, user);
      if (caller.account.state !== 'enabled' || caller.domain.state !== 'Active') { rt.sessions.delete(session.id); throw apiErrors.badSession(); }
      if (command === VALIDATE_2FA) return answer(200, validate2fa(rt, session, params));
      if (!session.twoFactorVerified && !ALLOWED_BEFORE_2FA.has(command.toLowerCase())) {
        rt.sessions.delete(session.id);
        throw new SimApiError(511, 'Unable to process the API request due to :Two factor authentication 2FA is enabled but not verified, please verify 2FA using validateUserTwoFactorAuthenticationCode API before calling other APIs. Existing session is invalidated.');
      }
      if (!def || !def.roles.includes(caller.role)) throw apiErrors.unsupported();
    } else {
      if (command === VALIDATE_2FA) throw apiErrors.unauthorized(); // it needs the session it verifies
      caller = verifyRequest(rt, params, def);
    }
    const args = validateArgs(command!, def!.params, params);
    const reply = await def!.run({ rt, caller, args, command: command!, origin: req.origin, commands });
    return answer(200, replyBody(reply));
  } catch (e) {
    const err = e instanceof SimApiError ? e : apiErrors.internal(e instanceof Error ? e.message : String(e));
    if (err.errorcode === 405) return { status: 405, contentType: JSON_CONTENT_TYPE, body: err.errortext, setCookies };
    return answer(err.errorcode, errorBody(err.errorcode, err.errortext, err.cserrorcode));
  }
}

function sessionMatches(s: SimSession, params: Record<string, string>, cookies: Record<string, string>): boolean {
  return params.sessionkey === s.sessionkey || cookies.sessionkey === s.sessionkey;
}

/**
 * validateUserTwoFactorAuthenticationCode on the session: the code (`codefor2fa`) checked by the
 * user's provider — totp: RFC 6238 within one step either side, never a step twice; staticpin:
 * the PIN. A wrong code ends the session (511), as CloudStack does outside the setup phase.
 */
function validate2fa(rt: SimRuntime, session: SimSession, params: Record<string, string>): View {
  const code = params.codefor2fa;
  if (!code) throw new SimApiError(531, 'Code for two factor authentication is required');
  const user = rt.state.users.find((u) => u.id === session.userId);
  const tf = user?.twoFactor;
  if (!user || !tf) {
    throw new SimApiError(530, `two factor authentication is not enabled for the user ${user?.username ?? session.userId}`, CS_CLOUD_RUNTIME);
  }
  let ok = false;
  if (tf.provider === 'staticpin') ok = code === tf.key;
  else {
    const step = matchTotp(tf.key, code, rt.now(), { window: 1, lastUsedStep: rt.lastTotpStep.get(user.id) });
    if (step !== undefined) { rt.lastTotpStep.set(user.id, step); ok = true; }
  }
  if (!ok) {
    rt.sessions.delete(session.id);
    throw new SimApiError(511, 'two-factor authentication code provided is invalid');
  }
  session.twoFactorVerified = true;
  return { success: true };
}

function liveSession(rt: SimRuntime, cookies: Record<string, string>): SimSession | undefined {
  const s = cookies.JSESSIONID ? rt.sessions.get(cookies.JSESSIONID) : undefined;
  if (!s) return undefined;
  if (s.lastAccess + rt.state.settings.sessionTimeoutSec * 1000 < rt.now()) {
    rt.sessions.delete(s.id);
    return undefined;
  }
  return s;
}

/** ApiServer.verifyRequest for a request without a session. */
function verifyRequest(rt: SimRuntime, params: Record<string, string>, def: CommandDef | undefined): Caller {
  if (!params.command || !def) throw apiErrors.unauthorized();
  const signature = paramIgnoringCase(params, 'signature');
  const apiKey = paramIgnoringCase(params, 'apiKey');
  if (signature === undefined || apiKey === undefined) throw apiErrors.unauthorized();
  const version = paramIgnoringCase(params, 'signatureVersion');
  const enforce = rt.state.settings.enforcePostRequestsAndTimestamps;
  if (version === '3') {
    const expires = paramIgnoringCase(params, 'expires');
    const at = expires === undefined ? undefined : parseExpires(expires);
    if (at === undefined) throw apiErrors.unauthorized();
    const now = rt.now();
    if (at < now) throw apiErrors.unauthorized();
    if (enforce && at > now + ENFORCE_MAX_AHEAD_MS) throw apiErrors.unauthorized();
  } else if (enforce) {
    throw apiErrors.unauthorized();
  }
  const user = rt.state.users.find((u) => u.apiKey !== undefined && u.apiKey === apiKey);
  if (!user) throw apiErrors.unauthorized();
  const caller = callerFor(rt.state, user);
  if (user.state !== 'enabled' || caller.account.state !== 'enabled' || caller.domain.state !== 'Active') throw apiErrors.unauthorized();
  if (!def.roles.includes(caller.role)) throw apiErrors.unsupported();
  if (!user.secretKey || !signatureMatches(params, user.secretKey, signature)) throw apiErrors.unauthorized();
  return caller;
}

/** The default login authenticator: username/password in a domain (path or id); POST only. */
function login(rt: SimRuntime, req: ApiRequest, params: Record<string, string>, setCookies: string[]): View {
  if (req.method.toUpperCase() !== 'POST') throw apiErrors.methodNotAllowed('Please use HTTP POST to authenticate using this API');
  const username = params.username;
  if (!username) throw apiErrors.missingParameter('login', 'username');
  let domain;
  if (params.domainid) {
    domain = rt.state.domains.find((d) => d.id === params.domainid);
    if (!domain) throw new SimApiError(531, `Unable to find the domain from the id ${params.domainid}`);
  } else {
    let path = params.domain ?? '/';
    if (!path.endsWith('/')) path += '/';
    if (!path.startsWith('/')) path = `/${path}`;
    domain = rt.state.domains.find((d) => domainPath(rt.state, d.id).toLowerCase() === path.toLowerCase());
    if (!domain) throw new SimApiError(531, `Unable to find the domain from the path ${path}`);
  }
  const user = rt.state.users.find((u) => u.username === username && rt.state.accounts.find((a) => a.id === u.accountId)?.domainId === domain.id);
  const account = user && rt.state.accounts.find((a) => a.id === user.accountId);
  if (!user || !account || user.password !== params.password || user.state !== 'enabled' || account.state !== 'enabled' || domain.state !== 'Active') {
    throw new SimApiError(531, `Failed to authenticate user ${username} in domain ${domain.id}; please provide valid credentials`);
  }
  const session: SimSession = {
    id: `node0${randomBytes(12).toString('hex')}`, sessionkey: randomBytes(20).toString('base64url'), userId: user.id, lastAccess: rt.now(),
    twoFactorVerified: !user.twoFactor,
  };
  rt.sessions.set(session.id, session);
  rt.event(user.id, account.id, 'USER.LOGIN', `user has logged in from ${req.origin}`);
  setCookies.push(`JSESSIONID=${session.id}; Path=/client; HttpOnly`, `sessionkey=${session.sessionkey};HttpOnly`);
  for (const [k, v] of [['userid', user.id], ['account', account.name], ['domainid', domain.id], ['role', String(account.type)]]) {
    setCookies.push(`${k}=${encodeURIComponent(v)}; Path=/client`);
  }
  return {
    username: user.username, userid: user.id, domainid: domain.id, timeout: String(rt.state.settings.sessionTimeoutSec),
    account: account.name, firstname: user.firstname, lastname: user.lastname, type: String(account.type),
    timezone: 'UTC', timezoneoffset: '0.0', registered: 'false', sessionkey: session.sessionkey,
    ...(user.twoFactor
      ? { is2faenabled: 'true', is2faverified: 'false', providerfor2fa: user.twoFactor.provider, issuerfor2fa: 'CloudStack' }
      : { is2faenabled: 'false', is2faverified: 'true' }),
  };
}
