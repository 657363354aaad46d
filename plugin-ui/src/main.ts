/**
 * @layer entry
 * The plug-in's composition root: the session in sessionStorage, the typed API client against
 * the control plane that served this page, and the app shell.
 */
import { baseFromLocation, createApi } from './api/client.ts';
import { BrowserSessionStore } from './api/session-storage.ts';
import './ui/app.ts';
import type { SdApp } from './ui/app.ts';

const app = document.querySelector<SdApp>('sd-app') ?? document.body.appendChild(document.createElement('sd-app') as SdApp);
const session = new BrowserSessionStore();
const api = createApi({ base: baseFromLocation(location.href), session, onExpired: () => app.expire() });
app.init({ api, session });
