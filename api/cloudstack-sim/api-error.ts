/**
 * @layer logic
 * The errors the simulator answers with, worded and numbered as CloudStack does. `errorcode` is
 * also the HTTP status; `cserrorcode` is the code of the Java exception CloudStack would throw:
 * ServerApiException 9999, InvalidParameterValueException 4350, PermissionDeniedException 4365,
 * CloudRuntimeException 4250 (none for the 401s ApiServlet writes itself).
 */

export class SimApiError extends Error {
  override name = 'SimApiError';
  constructor(readonly errorcode: number, readonly errortext: string, readonly cserrorcode?: number) {
    super(`[cloudstack-sim] ${errorcode} ${errortext}`);
  }
}

export const CS_SERVER_API = 9999;
export const CS_INVALID_PARAMETER = 4350;
export const CS_PERMISSION_DENIED = 4365;
export const CS_CLOUD_RUNTIME = 4250;

/** `listVirtualMachines` → `listvirtualmachines`, as ParamProcessWorker names a command in its errors. */
const lc = (command: string) => command.toLowerCase();

export const apiErrors = {
  /** a bad or missing signature, an unknown key, an expired v3 request */
  unauthorized: () => new SimApiError(401, 'unable to verify user credentials and/or request signature'),
  /** a session whose sessionkey does not match */
  badSession: () => new SimApiError(401, 'unable to verify user credentials'),
  unsupported: () => new SimApiError(432, 'The given command does not exist or it is not available for user', CS_SERVER_API),
  missingParameter: (command: string, name: string) =>
    new SimApiError(431, `Unable to execute API command ${lc(command)} due to missing parameter ${name}`, CS_SERVER_API),
  invalidValue: (command: string, name: string, value: string) =>
    new SimApiError(431, `Unable to execute API command ${lc(command)} due to invalid value ${value} for parameter ${name}`, CS_SERVER_API),
  invalidId: (command: string, name: string, value: string) =>
    new SimApiError(431, `Unable to execute API command ${lc(command)} due to invalid value. Invalid parameter ${name} value=${value} due to incorrect long value format, or entity does not exist or due to incorrect parameter annotation for the field in api cmd class.`, CS_SERVER_API),
  invalidParameter: (text: string) => new SimApiError(431, text, CS_INVALID_PARAMETER),
  permissionDenied: (text: string) => new SimApiError(531, text, CS_PERMISSION_DENIED),
  internal: (text: string) => new SimApiError(530, text, CS_CLOUD_RUNTIME),
  methodNotAllowed: (text: string) => new SimApiError(405, text, CS_SERVER_API),
};
