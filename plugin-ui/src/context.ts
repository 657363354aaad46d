/**
 * @layer port
 * The services the views get from the app shell through @lit/context: the API client, the
 * signed-in user and the app's actions (sign out, show a message). Tests provide fakes.
 */
import { createContext } from '@lit/context';
import type { Api, User } from './api/types.ts';

export const apiContext = createContext<Api>(Symbol('sendense-api'));
export const userContext = createContext<User | undefined>(Symbol('sendense-user'));
