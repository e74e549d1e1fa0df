import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

/** A refused request, with the JSON the server answered (e.g. a 409's ``needs_trust``). */
export class APIError extends ServerConnection.ResponseError {
  constructor(
    response: Response,
    message: string,
    readonly data: any
  ) {
    super(response, message);
  }
}

/**
 * Call a jupyter-hybrid endpoint of this server (works under a hub's /user/<name>/ prefix).
 */
export async function requestAPI<T>(
  settings: ServerConnection.ISettings,
  endPoint: string,
  init: RequestInit = {}
): Promise<T> {
  const url = URLExt.join(settings.baseUrl, 'jupyter-hybrid', endPoint);
  const response = await ServerConnection.makeRequest(url, init, settings);
  const text = await response.text();
  let data: any = text;
  try {
    data = text.length > 0 ? JSON.parse(text) : null;
  } catch (error) {
    // not JSON: keep the text for the error message
  }
  if (!response.ok) {
    const message = (data && data.message) || text || response.statusText;
    throw new APIError(response, message, data);
  }
  return data as T;
}
