//! grafx-wasm: the browser side of grafx-signer, as an npm package.
//!
//! It fetches CHILI GraFx tokens from the signer (never holding a client secret), tracks expiry
//! with the local clock, refreshes early and once (single-flight, and across tabs through Web
//! Locks and a BroadcastChannel), makes bearer-authenticated Environment API calls, and plugs into
//! the Studio SDK's auth-expired hook.
//!
//! ```js
//! import init, { GraFxClient } from "grafx-wasm";
//! await init();
//! const grafx = new GraFxClient({ signerUrl: "https://signer.example.com" });
//! const { items } = await grafx.templates.list({ search: "flyer", limit: 10 });
//! const { blob } = await grafx.output.render("pdf", { templateId: items[0].id }, { onProgress: console.log });
//! const project = await grafx.projects.create({ templateId: items[0].id, name: "Mine" });
//! ```

mod api;
mod client;
mod clock;
mod error;
mod fields;
mod glue;
mod grafx_client;
mod options;
mod proxy;
mod resources;
mod signer;
mod studio;
mod token;
mod typed_api;

use std::rc::Rc;

use js_sys::{Function, Promise};

/// The npm package's allocator (the `small-allocator` feature, which `cargo xtask package` and
/// the Chromium suites turn on): talc, which takes less of the `.wasm` than Rust's own dlmalloc.
/// A Rust app that links this crate keeps the allocator it chose.
#[cfg(all(
    feature = "small-allocator",
    target_family = "wasm",
    not(target_feature = "atomics")
))]
#[global_allocator]
static ALLOCATOR: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();
use wasm_bindgen::prelude::*;

#[cfg(feature = "testing")]
pub use client::live_clients;
pub use client::Stats;
pub use error::{is_grafx_error, GraFxError};
pub use grafx_client::GraFxClient;
pub use grafx_core::{
    ErrorCode, Media, OutputFormat, OutputSetting, Project, Template, TemplateRef,
};
pub use options::{ClientOptions, Credentials};
pub use token::Token;
pub use typed_api::{
    ListOptions, MediaItems, Output, Page, Projects, RenderRequest, RenderResult, Templates,
    WaitOptions,
};

use crate::glue::get;

#[wasm_bindgen(typescript_custom_section)]
const TS_SECTION: &'static str = TS_TYPES;

/// The package's TypeScript types (its `.d.ts` besides the generated classes); a test checks
/// `GraFxErrorCode` against `grafx_core::ErrorCode::BROWSER`. (The section above copies it at
/// compile time, which the dead-code lint does not see.)
#[allow(dead_code)]
const TS_TYPES: &str = r#"
/** Every `code` a GraFxError can have. */
export type GraFxErrorCode =
  | "signer_unreachable" | "signer_rejected" | "upstream_unavailable" | "caller_unauthenticated"
  | "caller_check_unavailable" | "unauthorized" | "api_error" | "timeout" | "aborted"
  | "invalid_response" | "invalid_options";

/** The error every failure rejects with: a real `Error` with a code to branch on. */
export interface GraFxError extends Error {
  name: "GraFxError";
  code: GraFxErrorCode;
  /** HTTP status, when a server answered. */
  status?: number;
  /** The server's own explanation (problem-details `detail`, signer `error_description`). */
  detail?: string;
  /** For `signer_rejected`: the signer's code, e.g. `origin_not_allowed` or `caller_unauthenticated`. */
  signerCode?: string;
  /** The raw response body, for `api_error` and `invalid_response`. */
  body?: string;
}

/** Options of `new GraFxClient(options)`. */
export interface GraFxClientOptions {
  /** Where grafx-signer is served; relative URLs resolve against the page (e.g. "/" when same-origin). */
  signerUrl: string;
  /** A named integration (`POST /token/{integration}`); the signer's default when omitted. */
  integration?: string;
  /** Refresh this many seconds before expiry (default 60; keep it below the signer's). */
  leewaySeconds?: number;
  /** fetch credentials mode for the signer call (default "same-origin"; "include" for cookie sessions). */
  credentials?: RequestCredentials;
  /** Extra headers for the signer call, e.g. your app's own session. */
  signerHeaders?: Record<string, string>;
  /** Returns your app's session token, sent to the signer as `Authorization: Bearer …`. */
  getSessionToken?: () => string | Promise<string>;
  /** Timeout of the signer call in milliseconds, 1 to 600000 (default 10000). */
  timeoutMs?: number;
  /**
   * Share tokens with other tabs and workers of this origin (default true): anonymous instances
   * with each other; identified ones (`getSessionToken`, `signerHeaders`, `credentials:
   * "include"`) only with instances that pass the same `shareKey`.
   */
  crossTab?: boolean;
  /** Who is asking, e.g. the signed-in user's id: identified instances share under it, and `signOut()` reaches them all. */
  shareKey?: string;
  /** Refresh in the background before expiry, re-checking when the tab wakes (default false). */
  autoRefresh?: boolean;
  /** The clock, in milliseconds since the epoch (default `Date.now`); token expiry and every wait's deadline read it. For tests. */
  now?: () => number;
}

/** Options of `accessToken()`. */
export interface AccessTokenOptions {
  /** Ignore the cached token and ask the signer for a new one. */
  forceRefresh?: boolean;
}

/** The current token. `expiresAt` is on this machine's clock (milliseconds since the epoch). */
export interface GraFxToken {
  accessToken: string;
  expiresAt: number;
  environment: string;
  environmentApiUrl: string;
  /** The Platform API the same token calls (null from signers that do not name it). */
  platformApiUrl: string | null;
  scope: string;
}

/** `fetch` init, plus a timeout. */
export interface GraFxRequestInit extends RequestInit {
  /** Abort after this many milliseconds, above 0 and at most 2147483647 (none by default, like fetch). */
  timeoutMs?: number;
}

/**
 * List parameters of CHILI's list endpoints, for `all()` (which pages by itself). Any other key
 * is sent as CHILI's own query parameter (`folder`, `includeFolders`,
 * `includeItemsFromSubfolders`, `collectionId`…; an array repeats it), so parameters CHILI adds
 * work without a release of this package.
 */
export interface ListParams {
  search?: string;
  limit?: number;
  /** CHILI documents `name`, `id` and `relativePath`. */
  sortBy?: string;
  sortOrder?: "asc" | "desc";
  signal?: AbortSignal;
  /** Any other CHILI parameter; `null` and `undefined` are left out. */
  [param: string]: string | number | boolean | ReadonlyArray<string | number | boolean> | AbortSignal | null | undefined;
}

/** List parameters for one page: {@link ListParams} and where to resume. */
export interface ListOptions extends ListParams {
  /** A page's `nextPageToken` (`null` or absent: the first page). */
  pageToken?: string | null;
}

/** Media list parameters (CHILI's media connector sends these), for `all()`. */
export interface MediaListParams extends ListParams {
  /**
   * The folder to list: `/` or `/photos/products`. With a folder, the two flags below are sent
   * as `false` unless given (CHILI's defaults for them are not documented).
   */
  folder?: string;
  /** List the folders (`type` 1 or "Directory") as well as the items. */
  includeFolders?: boolean;
  /** With `folder`: the items of its subfolders too. */
  includeItemsFromSubfolders?: boolean;
}

/** Media list parameters for one page. */
export interface MediaListOptions extends MediaListParams {
  /** A page's `nextPageToken` (`null` or absent: the first page). */
  pageToken?: string | null;
}

/** One page of a list. */
export interface Page<T> {
  items: T[];
  nextPageToken: string | null;
  /** Not every CHILI list reports it. */
  total?: number;
  pageSize: number;
}

/**
 * A template. Its dates are the fields CHILI's release notes (2026-03-30) call `DateCreated` and
 * `LastModifiedContentUtc`; no source shows their casing on the wire, so both are typed.
 */
export interface Template {
  id: string; name: string; relativePath?: string | null; description?: string; tags?: string[];
  dateCreated?: string; lastModifiedContentUtc?: string; DateCreated?: string; LastModifiedContentUtc?: string;
  width?: number; height?: number; [key: string]: unknown;
}
/**
 * A media item or folder (the Swagger's `Asset`, from CHILI's media example connector): `type`
 * is 0 or "Item" for an item, 1 or "Directory" for a folder; a folder's `relativePath` is its
 * parent's.
 */
export interface Media {
  id: string; name: string | null; relativePath: string | null; extension: string | null;
  type: 0 | 1 | "Item" | "Directory" | string | number | null;
  width: number | null; height: number | null; metaData: Record<string, string> | null;
  [key: string]: unknown;
}
/** A project as CHILI returns it: the template it came from is `template.id`. */
export interface Project { id: string; name: string; template?: { id: string }; [key: string]: unknown; }
/** An output setting (`GET output/settings`). */
export interface OutputSetting { id: string; name: string; type: OutputFormat; description?: string; default?: boolean; watermark?: boolean; watermarkText?: string; dataSourceEnabled?: boolean; [key: string]: unknown; }
/** CHILI's output formats: `POST output/{format}`. */
export type OutputFormat = "pdf" | "png" | "jpg" | "gif" | "mp4" | "html";

/** One poll of a task (previews and outputs): the task (empty for a media preview, which has no
 * task), the attempt, the time since the start. */
export interface TaskProgress { taskId: string; attempt: number; elapsedMs: number; }
/** Waiting for a task: poll interval (default 1000 ms), overall timeout (default 300000 ms), abort
 * and progress. Durations are numbers of milliseconds above 0 and at most 2147483647 (a timer's
 * longest); anything else, 0 included, is refused (`invalid_options`). */
export interface WaitOptions { intervalMs?: number; timeoutMs?: number; signal?: AbortSignal; onProgress?: (progress: TaskProgress) => void; }
/** Previews wait like outputs (default timeout 30 s, interval 500 ms). */
export type PreviewOptions = WaitOptions;
/** A template or project preview of one layout or page (CHILI: templates, engine 2.24.0 or later). */
export interface LayoutPreviewOptions extends PreviewOptions { layoutId?: string; pageId?: string; }
export type PreviewType = "thumbnail" | "medium" | "highest";
/**
 * CHILI's media preview sizes (its media connector, from CHILI's Swagger). `highestOrVector` is
 * in no public source; it is kept for environments that take it.
 */
export type MediaPreviewSize = PreviewType | "fullOrVector" | "x4096" | "highestOrVector";

// The typed helpers' options, and a preview's type or size, may be `null`: the defaults.
export interface TemplatesApi {
  list(options?: ListOptions | null): Promise<Page<Template>>;
  /**
   * Every template, walking all pages: `for await (const t of grafx.templates.all())`. Options
   * that are not an object throw `invalid_options` at once; other mistakes reject the iteration.
   */
  all(options?: ListParams | null): AsyncIterable<Template>;
  /** `GET templates/{id}`, unwrapped from CHILI's `{data}`. */
  get(id: string): Promise<Template>;
  /** The template's document JSON. */
  download(id: string): Promise<unknown>;
  /** A preview image: 200 at once, or CHILI's 202 task flow (poll, then download). */
  preview(id: string, type?: PreviewType | null, options?: LayoutPreviewOptions | null): Promise<Blob>;
}

export interface ProjectsApi {
  /** The caller's own projects (`GET projects`, scope `myproject:list`). */
  list(options?: ListOptions | null): Promise<Page<Project>>;
  all(options?: ListParams | null): AsyncIterable<Project>;
  /**
   * `PATCH projects/{id}` (release notes 2023-05-16, which do not show the body): `{name}`, or,
   * if CHILI refuses that form (400, 415, 422), a JSON Patch replacing `/name`.
   */
  rename(id: string, name: string): Promise<Project>;
  /** `POST projects` with CHILI's body `{template: {id: templateId}, name?}`. */
  create(body: { templateId: string; name?: string }): Promise<Project>;
  get(id: string): Promise<Project>;
  document(id: string): Promise<unknown>;
  saveDocument(id: string, document: unknown): Promise<void>;
  /** `DELETE projects/{id}`. */
  delete(id: string): Promise<void>;
  /**
   * A project's preview. CHILI's release notes give `layoutId` and `pageId` to template previews
   * only, so they are not offered here.
   */
  preview(id: string, type?: PreviewType | null, options?: PreviewOptions | null): Promise<Blob>;
}

export interface MediaApi {
  list(options?: MediaListOptions | null): Promise<Page<Media>>;
  all(options?: MediaListParams | null): AsyncIterable<Media>;
  /** `GET media/{id}`: CHILI's `{data, links}` unwrapped (a bare item is taken too). */
  get(id: string): Promise<Media>;
  /** `GET media/{id}/download`: the original file. */
  download(id: string, options?: { signal?: AbortSignal } | null): Promise<Blob>;
  /** A media preview; CHILI's 202 (still generating) is asked again with backoff, within `timeoutMs`. */
  preview(id: string, size?: MediaPreviewSize | null, options?: PreviewOptions | null): Promise<Blob>;
}

/** One data row of batch (variable data) output: variable name to value. PDF only. */
export type VariableRow = Record<string, string | null>;
/** What to render (templateId or projectId, or documentContent, optionally with the id it came from) and how. */
export type OutputBody = ({ templateId: string; projectId?: never; documentContent?: unknown }
  | { projectId: string; templateId?: never; documentContent?: unknown }
  | { documentContent: unknown; templateId?: never; projectId?: never }) & {
  /** The output setting; the environment's default for the format when omitted. */
  outputSettingsId?: string;
  /** Layout ids to export, e.g. ["0"]. */
  layoutsToExport?: string[];
  /** Data rows for batch output (PDF). */
  variables?: VariableRow[];
  [key: string]: unknown;
};
export interface RenderResult { taskId: string; downloadUrl: string; blob: Blob; }

export interface OutputApi {
  /** `GET output/settings`. */
  settings(): Promise<OutputSetting[]>;
  /** `GET output/settings/{id}`. */
  setting(id: string): Promise<OutputSetting>;
  /** Starts an output task; resolves to its taskId. */
  create(format: OutputFormat, body: OutputBody): Promise<string>;
  /** Polls the task (204, or 202 on older versions, while running); resolves to the download URL. */
  wait(taskId: string, options?: WaitOptions | null): Promise<string>;
  /** Downloads by task id or download URL; an expired output (about 4 hours) rejects saying so. */
  download(taskIdOrUrl: string, options?: { signal?: AbortSignal } | null): Promise<Blob>;
  /** create + wait + download. */
  render(format: OutputFormat, body: OutputBody, options?: WaitOptions | null): Promise<RenderResult>;
}

/** Options of `grafx.studio.uiLoaderConfig`; anything else is passed through to studio-ui. */
export interface StudioUIOptions {
  /** The id of the element studio-ui renders into. */
  selector: string;
  projectId?: string;
  /**
   * An integration behind the signer's API proxy (e.g. "writer"): studio-ui's project callbacks
   * then load, save and render `projectId` through the proxy, never with a write token in the
   * page. Needed on CHILI for a project the page's own (read-only) user did not create.
   */
  via?: string;
  /** false: build the config even for an Environment API URL studio-ui would refuse. */
  checkEnvironment?: boolean;
  projectName?: string;
  userInterfaceID?: string;
  projectDownloadUrl?: string;
  projectUploadUrl?: string;
  /**
   * studio-ui's hook for a connector whose own authentication (e.g. OAuth2 authorization code)
   * expired, passed through as given. Older studio-ui passes the connector id; newer passes
   * `{id, name, supportedAuth, connectorHubId?}`. It resolves to `{type: "authentified"}` (older;
   * "authenticated" in newer tests), `{type: "canceled"}`, `{type: "timeout"}` or
   * `{type: "error", error}`.
   */
  onConnectorAuthenticationRequested?:
    | ((connectorId: string) => Promise<{ type: string; error?: unknown }>)
    | ((request: { id: string; name?: string; supportedAuth?: string; connectorHubId?: string }) => Promise<{ type: string; error?: unknown }>);
  [key: string]: unknown;
}

/** studio-ui's `Project`. */
export interface StudioUIProject { id: string; name: string; template: { id: string } }

/** studio-ui's `DownloadLinkResult`: with `via`, `data` is a `blob:` URL of the rendered file. */
export interface StudioUIDownloadLink {
  status: number;
  success: boolean;
  error: string | undefined;
  parsedData: string | undefined;
  data: string | undefined;
}

/** What `StudioUI.studioUILoaderConfig` takes. */
export interface StudioUILoaderConfig extends StudioUIOptions {
  /** The Environment API base URL *without* its trailing slash. */
  graFxStudioEnvironmentApiBaseUrl: string;
  authToken: string;
  refreshTokenAction: () => Promise<string | Error>;
  /** With `via`: the project through the signer's API proxy. */
  onProjectInfoRequested?: (projectId: string) => Promise<StudioUIProject>;
  /** With `via`: the project's document (JSON text) through the proxy. */
  onProjectDocumentRequested?: (projectId: string) => Promise<string>;
  /** With `via`: saves the document through the proxy, then resolves to the project. */
  onProjectSave?: (generateJson: () => Promise<string>) => Promise<StudioUIProject>;
  /** With `via`: renders the saved project through the proxy. */
  onProjectGetDownloadLink?: (extension: string, selectedLayoutID: string | undefined, outputSettingsId?: string) => Promise<StudioUIDownloadLink>;
}

/** What the Studio SDK's `onAuthExpired` resolves to for a GraFx token request. */
export interface GraFxTokenCredentials { type: "grafxToken"; token: string; }
/** The Studio SDK's `AnyAuthRefreshRequest` (1.45): a connector's own authentication expired. */
export interface ConnectorAuthRequest {
  type: string;
  connectorId: string;
  remoteConnectorId: string;
  /** The `X-GRAFX-UNAUTHORIZED` header's value, e.g. "OAuthClientCredentials, 5678"; null without the proxy. */
  headerValue: string | null;
  connectorDefinition: { id: string; name: string; type: string; supportedAuthentication: { browser: string[]; server: string[] }; [key: string]: unknown };
}
/**
 * The Studio SDK's `RefreshedAuthCredendentials` (`type` "refreshed", the SDK's
 * `AuthCredentialsTypeEnum.refreshed`): headers for the connector's requests.
 */
export interface ConnectorCredentials { type: string; headers?: Record<string, string>; }

/** Ready-made handlers for `@chili-publish/studio-sdk` and studio-ui (bound functions). */
export interface StudioAdapters {
  /**
   * The SDK's `onAuthExpired`: for `{type: "grafxToken"}` it force-refreshes and resolves to
   * `{type: "grafxToken", token}`; for any other request, to null. The type parameter lets it be
   * assigned to the SDK's handler type, whose `type` field is a TypeScript enum.
   */
  onAuthExpired<Credentials = GraFxTokenCredentials>(request: { type: string }): Promise<Credentials | null>;
  /**
   * An `onAuthExpired` that also answers connectors' own authentication: the SDK's
   * `AnyAuthRefreshRequest` (`{type: "any", connectorId, remoteConnectorId, headerValue,
   * connectorDefinition}`) goes to `onConnectorAuth`, whose answer (the SDK's
   * `RefreshedAuthCredendentials`, `{type: "refreshed", headers?}`, or null) is passed on. A
   * handler that throws gives null (and a console warning); GraFx token requests are answered as
   * by `onAuthExpired`.
   */
  onAuthExpiredWith(
    onConnectorAuth: (request: ConnectorAuthRequest) => Promise<ConnectorCredentials | null> | ConnectorCredentials | null,
  ): <Credentials = GraFxTokenCredentials | ConnectorCredentials>(request: { type: string }) => Promise<Credentials | null>;
  /** studio-ui's `refreshTokenAction`: resolves to a fresh token, or to an Error (never rejects). */
  refreshTokenAction(): Promise<string | Error>;
  /** `{ENVIRONMENT_API, GRAFX_AUTH_TOKEN}` for `sdk.configuration.setValue`. */
  configuration(): Promise<{ ENVIRONMENT_API: string; GRAFX_AUTH_TOKEN: string }>;
  /**
   * The argument of studio-ui's `StudioUI.studioUILoaderConfig`. Rejects with `invalid_options`
   * when studio-ui would refuse the environment's URL (it wants `https://{env}.…/environment/{env}`).
   */
  uiLoaderConfig(options: StudioUIOptions): Promise<StudioUILoaderConfig>;
}

/**
 * `grafx.via(integration)`: the typed helpers, `fetch` and `json` through the signer's API proxy
 * (`{signerUrl}/api/{integration}/…`). The signer adds that integration's token; the page never
 * sees it. The proxy's refusals reject as `signer_rejected` with `signerCode`
 * (`proxy_path_not_allowed`, `quota_exceeded`, `origin_not_allowed`…).
 */
export interface GraFxVia {
  /** The integration the requests go through. */
  readonly integration: string;
  templates: TemplatesApi;
  projects: ProjectsApi;
  media: MediaApi;
  output: OutputApi;
  /** `fetch` through the proxy: a path relative to the Environment API, or a URL under the proxy. */
  fetch(pathOrUrl: string, init?: GraFxRequestInit): Promise<Response>;
  /** Like `fetch`, then the JSON body; a non-2xx reply rejects with a GraFxError. */
  json(path: string, init?: GraFxRequestInit): Promise<unknown>;
}

/** Counters for a token panel. */
export interface GraFxStats { signerRequests: number; refreshes: number; lastSignerCall: number | null; }
"#;

/// The JavaScript class `GraFxClient`: a thin wrapper over the Rust [`GraFxClient`].
#[wasm_bindgen(js_name = GraFxClient)]
pub struct JsGraFxClient {
    client: GraFxClient,
    studio: JsValue,
}

/// A path or URL argument: a string (a `URL` object is taken by its `href`).
fn path_string(value: &JsValue) -> Result<String, GraFxError> {
    value
        .as_string()
        .or_else(|| value.dyn_ref::<web_sys::Url>().map(web_sys::Url::href))
        .filter(|p| !p.is_empty())
        .ok_or_else(|| {
            GraFxError::options("pass a path relative to the Environment API, or a URL on it")
        })
}

/// The crate's one `future_to_promise` instance (issue #28, package size): every caller boxes its
/// future, so the promise machinery is compiled once rather than once per future type.
pub(crate) fn boxed_promise(
    future: std::pin::Pin<Box<dyn std::future::Future<Output = Result<JsValue, JsValue>>>>,
) -> Promise {
    wasm_bindgen_futures::future_to_promise(future)
}

fn promise<F>(future: F) -> Promise
where
    F: std::future::Future<Output = Result<JsValue, GraFxError>> + 'static,
{
    // Boxed as it is first: the step that maps the error is then compiled once, not once per
    // caller's future.
    resources::promise_of(Box::pin(future))
}

#[wasm_bindgen(js_class = GraFxClient)]
impl JsGraFxClient {
    /// Validates the options (throws a GraFxError `invalid_options` naming the bad one).
    #[wasm_bindgen(constructor)]
    pub fn new(
        #[wasm_bindgen(unchecked_param_type = "GraFxClientOptions")] options: JsValue,
    ) -> Result<JsGraFxClient, JsValue> {
        let client = GraFxClient::new(ClientOptions::from_js(options)?)?;
        let studio = studio::adapters(&Rc::downgrade(&client.inner));
        Ok(Self { client, studio })
    }

    /// The access token: cached unless inside the leeway, otherwise from the signer.
    #[wasm_bindgen(js_name = accessToken, unchecked_return_type = "Promise<string>")]
    pub fn access_token(
        &self,
        #[wasm_bindgen(unchecked_optional_param_type = "AccessTokenOptions")] options: Option<
            JsValue,
        >,
    ) -> Promise {
        let force = options
            .map(|o| get(&o, "forceRefresh").is_truthy())
            .unwrap_or(false);
        let inner = Rc::clone(&self.client.inner);
        promise(async move {
            let t = inner.current(force).await?;
            Ok(JsValue::from_str(&t.access_token))
        })
    }

    /// The current token, or undefined before the first one.
    #[wasm_bindgen(getter, unchecked_return_type = "GraFxToken | undefined")]
    pub fn token(&self) -> JsValue {
        self.client
            .token()
            .map_or(JsValue::UNDEFINED, |t| t.to_js())
    }

    /// Calls `callback(token)` whenever the token changes; returns a function that unsubscribes.
    #[wasm_bindgen(js_name = onTokenChange, unchecked_return_type = "() => void")]
    pub fn on_token_change(
        &self,
        #[wasm_bindgen(unchecked_param_type = "(token: GraFxToken) => void")] callback: Function,
    ) -> JsValue {
        self.subscribe(false, callback)
    }

    /// Calls `callback(error)` whenever a refresh fails; returns a function that unsubscribes.
    #[wasm_bindgen(js_name = onError, unchecked_return_type = "() => void")]
    pub fn on_error(
        &self,
        #[wasm_bindgen(unchecked_param_type = "(error: GraFxError) => void")] callback: Function,
    ) -> JsValue {
        self.subscribe(true, callback)
    }

    fn subscribe(&self, errors: bool, callback: Function) -> JsValue {
        let id = self.client.inner.subscribe(errors, callback);
        let weak = Rc::downgrade(&self.client.inner);
        // Callable any number of times (React effects clean up twice in StrictMode); it holds the
        // client only weakly.
        Closure::<dyn Fn()>::new(move || {
            if let Some(inner) = weak.upgrade() {
                inner.unsubscribe(errors, id);
            }
        })
        .into_js_value()
    }

    /// `fetch` against the Environment API with the bearer token. A relative path resolves against
    /// the token's `environmentApiUrl`; an absolute URL must be on that origin or the Platform
    /// API's (`platformApiUrl`). On a 401 it gets a new token once and retries once.
    #[wasm_bindgen(unchecked_return_type = "Promise<Response>")]
    pub fn fetch(
        &self,
        #[wasm_bindgen(js_name = pathOrUrl, unchecked_param_type = "string")] path_or_url: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "GraFxRequestInit")] init: Option<JsValue>,
    ) -> Promise {
        let init = init.unwrap_or(JsValue::UNDEFINED);
        if let Some(sent) = api::fetch_now(&self.client.inner, &path_or_url, &init) {
            return sent;
        }
        let inner = Rc::clone(&self.client.inner);
        promise(async move {
            let path_or_url = path_string(&path_or_url)?;
            let res = api::fetch(&inner, &path_or_url, &init).await?;
            Ok(web_sys::Response::from(res).into())
        })
    }

    /// Like `fetch`, then the parsed JSON body; a non-2xx reply rejects with a GraFxError
    /// (`api_error`, or `unauthorized` after the retry) carrying status, detail and body.
    #[wasm_bindgen(unchecked_return_type = "Promise<unknown>")]
    pub fn json(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] path: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "GraFxRequestInit")] init: Option<JsValue>,
    ) -> Promise {
        let inner = Rc::clone(&self.client.inner);
        promise(async move {
            let path = path_string(&path)?;
            api::json(&inner, &path, &init.unwrap_or(JsValue::UNDEFINED)).await
        })
    }

    /// Templates: list, all, get, download, preview.
    #[wasm_bindgen(getter, unchecked_return_type = "TemplatesApi")]
    pub fn templates(&self) -> JsValue {
        get(&self.client.helpers, "templates")
    }

    /// Projects: create, get, document, saveDocument, delete, preview.
    #[wasm_bindgen(getter, unchecked_return_type = "ProjectsApi")]
    pub fn projects(&self) -> JsValue {
        get(&self.client.helpers, "projects")
    }

    /// Media: list, all, get, preview.
    #[wasm_bindgen(getter, unchecked_return_type = "MediaApi")]
    pub fn media(&self) -> JsValue {
        get(&self.client.helpers, "media")
    }

    /// Output: settings, setting, create, wait, download, render.
    #[wasm_bindgen(getter, unchecked_return_type = "OutputApi")]
    pub fn output(&self) -> JsValue {
        get(&self.client.helpers, "output")
    }

    /// The typed helpers, `fetch` and `json` through the signer's API proxy for `integration`
    /// (`{signerUrl}/api/{integration}/…`): writes with a server-side token the page never sees.
    /// Throws `invalid_options` for a name that is not letters, digits, `-` and `_`.
    #[wasm_bindgen(unchecked_return_type = "GraFxVia")]
    pub fn via(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] integration: JsValue,
    ) -> Result<JsValue, JsValue> {
        let name = integration
            .as_string()
            .ok_or_else(|| GraFxError::options("via(integration) takes the integration's name"))?;
        let via = self.client.via(&name)?;
        let _ = js_sys::Reflect::set(&via.helpers, &"integration".into(), &name.into());
        Ok(via.helpers)
    }

    /// Handlers for the Studio SDK and studio-ui.
    #[wasm_bindgen(getter, unchecked_return_type = "StudioAdapters")]
    pub fn studio(&self) -> JsValue {
        self.studio.clone()
    }

    /// Signer requests made, token changes seen, and the time of the last signer call.
    #[wasm_bindgen(getter, unchecked_return_type = "GraFxStats")]
    pub fn stats(&self) -> JsValue {
        let stats = self.client.stats();
        glue::object(&[
            ("signerRequests", stats.signer_requests.into()),
            ("refreshes", stats.refreshes.into()),
            (
                "lastSignerCall",
                stats.last_signer_call.map_or(JsValue::NULL, JsValue::from),
            ),
        ])
    }

    /// Forgets the token here and in every instance of the same caller (other tabs and workers
    /// included): call it when the user signs out of your app.
    #[wasm_bindgen(js_name = signOut)]
    pub fn sign_out(&self) {
        self.client.sign_out();
    }

    /// Stops background work and forgets the token. The client cannot be used afterwards.
    pub fn dispose(&self) {
        self.client.dispose();
    }
}

impl JsGraFxClient {
    /// The Rust client this object wraps.
    pub fn client(&self) -> &GraFxClient {
        &self.client
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use std::collections::BTreeSet;

    use grafx_core::ErrorCode;

    /// The TypeScript `GraFxErrorCode` union, as written in `TS_TYPES`.
    fn typescript_codes() -> BTreeSet<String> {
        let union = super::TS_TYPES
            .split("export type GraFxErrorCode =")
            .nth(1)
            .and_then(|rest| rest.split(';').next())
            .expect("the GraFxErrorCode union");
        union
            .split('|')
            .map(|c| c.trim().trim_matches('"').to_owned())
            .filter(|c| !c.is_empty())
            .collect()
    }

    #[test]
    fn the_typescript_error_codes_are_grafx_cores_browser_codes() {
        let core: BTreeSet<String> = ErrorCode::BROWSER
            .iter()
            .map(|c| c.as_str().to_owned())
            .collect();
        assert_eq!(typescript_codes(), core, "edit GraFxErrorCode in lib.rs");
    }

    #[test]
    fn every_code_the_crate_raises_is_a_browser_code() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src");
        let browser: BTreeSet<String> = ErrorCode::BROWSER
            .iter()
            .map(|c| format!("{c:?}"))
            .collect();
        // The scan must see what it checks: a renamed directory or a changed spelling would
        // otherwise pass with nothing looked at.
        let mut files = 0;
        let mut raised = BTreeSet::new();
        // Every .rs file under src/, folders (client/) included.
        let mut sources = Vec::new();
        let mut dirs = vec![std::path::PathBuf::from(dir)];
        while let Some(d) = dirs.pop() {
            for entry in std::fs::read_dir(&d).expect("src") {
                let path = entry.expect("entry").path();
                if path.is_dir() {
                    dirs.push(path);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    sources.push(path);
                }
            }
        }
        for path in sources {
            let text = std::fs::read_to_string(&path).expect("source");
            files += 1;
            for (_, rest) in text
                .match_indices("ErrorCode::")
                .map(|(i, _)| ((), &text[i + 11..]))
            {
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric())
                    .collect();
                if name.is_empty() || ["BROWSER", "ALL", "Other"].contains(&name.as_str()) {
                    continue;
                }
                assert!(
                    browser.contains(&name),
                    "{} raises ErrorCode::{name}, which is not in ErrorCode::BROWSER",
                    path.display()
                );
                raised.insert(name);
            }
        }
        assert!(files >= 10, "only {files} source files scanned");
        assert!(
            raised.len() >= 6,
            "the scan found only {raised:?}: is it still reading the sources?"
        );
        let typescript = typescript_codes();
        let mut in_glue = BTreeSet::new();
        for (file, glue) in [
            ("js/browser.js", include_str!("../js/browser.js")),
            ("js/resources.js", include_str!("../js/resources.js")),
        ] {
            for (i, _) in glue.match_indices("grafxError(\"") {
                let code: String = glue[i + 12..].chars().take_while(|c| *c != '"').collect();
                assert!(
                    typescript.contains(&code),
                    "{file} raises {code}, which GraFxErrorCode lacks"
                );
                in_glue.insert(code);
            }
        }
        assert!(
            in_glue.len() >= 3,
            "the glue scan found only {in_glue:?}: is it still reading the JS modules?"
        );
    }
}
