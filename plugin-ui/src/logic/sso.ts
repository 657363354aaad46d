/**
 * @layer logic
 * Same origin as CloudStack's UI: the sessionkey it keeps in localStorage["primate__Access-Token"]
 * (`{"value":"<sessionkey>",…}`; its sessionkey cookie is HttpOnly and scoped to /client/api).
 * Another origin (or storage refused): undefined.
 */
export function cloudStackSessionKey(read: () => string | null): string | undefined {
  try {
    const v = JSON.parse(read() ?? 'null') as { value?: unknown } | null;
    return typeof v?.value === 'string' && v.value ? v.value : undefined;
  } catch {
    return undefined;
  }
}

