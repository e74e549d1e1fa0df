import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

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
    throw new ServerConnection.ResponseError(response, message);
  }
  return data as T;
}
