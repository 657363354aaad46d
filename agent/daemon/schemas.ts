/**
 * @layer logic
 * The daemon's request and response bodies: the engine's requests and outcomes
 * (agent/engine/requests.ts), under the name the control plane imports them by.
 */
export * from '../engine/requests.ts';
