// Compiled with `tsc --noEmit` by `cargo xtask test`: the generated grafx-wasm types, used the way
// an app does, together with the real @chili-publish/studio-sdk types. A type error here fails CI.
import init, {
  GraFxClient,
  isGraFxError,
  type GraFxClientOptions,
  type GraFxError,
  type GraFxToken,
  type Page,
  type Template,
  type RenderResult,
  type TaskProgress,
  type OutputSetting,
  type Project,
  type Media,
  type StudioUILoaderConfig,
  type GraFxVia,
} from "grafx-wasm";
import SDK, { type ConfigType, WellKnownConfigurationKeys, RefreshedAuthCredendentials, type AnyAuthRefreshRequest } from "@chili-publish/studio-sdk";

// studio-ui is not on npm: this is the part of its `IStudioUILoaderConfig` (chili-publish/studio-ui,
// src/types/types.ts) that grafx.studio.uiLoaderConfig fills in, copied as the README documents it.
declare const StudioUI: {
  studioUILoaderConfig(config: {
    selector: string;
    graFxStudioEnvironmentApiBaseUrl: string;
    authToken: string;
    projectName?: string;
    projectId?: string;
    refreshTokenAction?: () => Promise<string | Error>;
    userInterfaceID?: string;
    projectDownloadUrl?: string;
    projectUploadUrl?: string;
    onProjectInfoRequested?: (projectId: string) => Promise<{ name: string; id: string; template: { id: string } }>;
    onProjectDocumentRequested?: (projectId: string) => Promise<string>;
    onProjectSave?: (generateJson: () => Promise<string>) => Promise<{ name: string; id: string; template: { id: string } }>;
    onProjectGetDownloadLink?: (extension: string, selectedLayoutID: string | undefined) => Promise<{
      status: number; error: string | undefined; success: boolean; parsedData: string | undefined; data: string | undefined;
    }>;
  }): void;
};

export async function usage(): Promise<void> {
  await init();
  const options: GraFxClientOptions = {
    signerUrl: "https://signer.example.com",
    integration: "reader",
    leewaySeconds: 30,
    credentials: "include",
    signerHeaders: { "x-app-session": "abc" },
    getSessionToken: async () => "session-jwt",
    timeoutMs: 5000,
    crossTab: true,
    shareKey: "user-42",
    autoRefresh: true,
  };
  const grafx = new GraFxClient(options);

  const token: string = await grafx.accessToken();
  const forced: string = await grafx.accessToken({ forceRefresh: true });
  const current: GraFxToken | undefined = grafx.token;
  const expiresAt: number | undefined = current?.expiresAt;
  const unsubscribe: () => void = grafx.onTokenChange((t: GraFxToken) => console.log(t.scope));
  grafx.onError((e: GraFxError) => console.warn(e.code, e.signerCode, e.status));
  unsubscribe();

  const res: Response = await grafx.fetch("templates?limit=5", { timeoutMs: 2000, signal: new AbortController().signal });
  const body: unknown = await grafx.json("templates");
  const page: Page<Template> = await grafx.templates.list({ search: "flyer", limit: 10, sortOrder: "desc" });
  const next: string | null = page.nextPageToken;
  for await (const m of grafx.media.all({ folder: "/photos", includeFolders: true, limit: 50 })) {
    const kind: Media["type"] = m.type;
    void kind;
  }
  for await (const template of grafx.templates.all({ limit: 50, sortOrder: "asc", collectionId: "c1" })) {
    const name: string = template.name;
    void name;
  }
  const preview: Blob = await grafx.templates.preview(page.items[0].id, "medium", {
    signal: new AbortController().signal,
    timeoutMs: 10000,
    onProgress: (p: TaskProgress) => console.log(p.taskId),
  });
  const project: Project = await grafx.projects.create({ templateId: page.items[0].id, name: "Mine" });
  const templateOfProject: string | undefined = project.template?.id;
  await grafx.projects.saveDocument(project.id, { edited: true });
  const projectPreview: Blob = await grafx.projects.preview(project.id);
  // null options (and a null preview type) are the defaults.
  const defaults: Blob[] = [await grafx.projects.preview(project.id, null, null), await grafx.media.download("m1", null)];
  void [defaults, await grafx.output.render("pdf", { projectId: project.id }, null), await grafx.templates.list(null)];
  const mediaPreview: Blob = await grafx.media.preview("m1", "x4096", { intervalMs: 250, timeoutMs: 20_000, onProgress: (p) => console.log(p.attempt) });
  void mediaPreview;
  const mine: Page<Project> = await grafx.projects.list({ limit: 10, collectionId: "c1" });
  const renamed: Project = await grafx.projects.rename(mine.items[0].id, "Renamed");
  void renamed;
  const folder = await grafx.media.list({ folder: "/photos", includeFolders: true, includeItemsFromSubfolders: false, tag: ["a", "b"] });
  const folders: Media[] = folder.items.filter((m) => m.type === 1 || m.type === "Directory");
  const original: Blob = await grafx.media.download(folders[0].id, { signal: new AbortController().signal });
  const item: Media = await grafx.media.get("m1");
  const where: string | null = item.relativePath;
  void [original, where];
  const layoutPreview: Blob = await grafx.templates.preview(page.items[0].id, "thumbnail", { layoutId: "0", pageId: "1" });
  const created: string | undefined = page.items[0].dateCreated ?? page.items[0].DateCreated;
  void [layoutPreview, created];
  await grafx.projects.delete(project.id);
  const settings: OutputSetting[] = await grafx.output.settings();
  const render: RenderResult = await grafx.output.render("pdf", { templateId: page.items[0].id }, {
    intervalMs: 500,
    onProgress: (p: TaskProgress) => console.log(p.attempt, p.elapsedMs),
  });
  // Batch (variable data) output, with CHILI's body fields.
  await grafx.output.render("pdf", {
    documentContent: await grafx.templates.download(page.items[0].id),
    outputSettingsId: settings[0].id,
    layoutsToExport: ["0"],
    variables: [{ Headline: "Red" }, { Headline: null }],
  });
  await grafx.output.render("mp4", { projectId: project.id });
  // Writes through the signer's API proxy: the page's own token stays read-only.
  const writer: GraFxVia = grafx.via("writer");
  const viaProject: Project = await writer.projects.create({ templateId: page.items[0].id });
  const viaPdf: RenderResult = await writer.output.render("pdf", { projectId: viaProject.id });
  const viaRaw: Response = await writer.fetch("output/settings");
  const integrationName: string = writer.integration;
  void [viaPdf, viaRaw, integrationName];
  const platform: string | null | undefined = grafx.token?.platformApiUrl;
  const blob: Blob = render.blob;

  try {
    await grafx.accessToken();
  } catch (e: unknown) {
    if (isGraFxError(e)) {
      // Narrowed by the type guard.
      const code: "signer_unreachable" | "signer_rejected" | "upstream_unavailable" | "caller_unauthenticated" | "caller_check_unavailable" | "unauthorized" | "api_error" | "timeout" | "aborted" | "invalid_response" | "invalid_options" = e.code;
      void code;
      // The app's login expired: send the user to sign in.
      if (e.code === "caller_unauthenticated") location.assign("/login");
    }
  }

  // The Studio SDK, wired as CHILI's docs do it: the handler is assignable without a cast.
  const config: ConfigType = { editorId: "studio-editor", onAuthExpired: grafx.studio.onAuthExpired };
  // A connector with its own authentication: the app answers with the SDK's own credentials.
  const withConnectors: ConfigType = {
    editorId: "studio-editor",
    onAuthExpired: grafx.studio.onAuthExpiredWith(async (request) => {
      const sdkRequest: Pick<AnyAuthRefreshRequest, "connectorId" | "headerValue"> = request;
      return sdkRequest.connectorId === "dam" ? new RefreshedAuthCredendentials({ "x-api-key": "k" }) : null;
    }),
  };
  void withConnectors;
  const sdk = new SDK(config);
  const { ENVIRONMENT_API, GRAFX_AUTH_TOKEN } = await grafx.studio.configuration();
  await sdk.configuration.setValue(WellKnownConfigurationKeys.GraFxStudioEnvironmentApiUrl, ENVIRONMENT_API);
  await sdk.configuration.setValue(WellKnownConfigurationKeys.GraFxStudioAuthToken, GRAFX_AUTH_TOKEN);
  // studio-ui's refreshTokenAction: () => Promise<string | Error>.
  const refreshTokenAction: () => Promise<string | Error> = grafx.studio.refreshTokenAction;
  // studio-ui: the loader config is built for it, base URL without the trailing slash.
  const uiConfig: StudioUILoaderConfig = await grafx.studio.uiLoaderConfig({
    selector: "studio-ui-container",
    projectId: project.id,
    projectName: project.name,
  });
  StudioUI.studioUILoaderConfig(uiConfig);
  // A project the page's read-only user does not own: studio-ui's project callbacks go through
  // the signer's API proxy.
  const viaConfig: StudioUILoaderConfig = await grafx.studio.uiLoaderConfig({
    selector: "studio-ui-container",
    projectId: project.id,
    via: "writer",
    // Older studio-ui passes the connector's id, newer an object: a handler for either fits.
    onConnectorAuthenticationRequested: async (connectorId: string) => ({ type: connectorId ? "authentified" : "canceled" }),
  });
  const newerHook: StudioUILoaderConfig = await grafx.studio.uiLoaderConfig({
    selector: "studio-ui-container",
    onConnectorAuthenticationRequested: async (request: { id: string; name?: string }) => ({ type: request.name ? "authenticated" : "canceled" }),
  });
  void newerHook;
  StudioUI.studioUILoaderConfig(viaConfig);

  void [token, forced, expiresAt, res, body, next, preview, blob, refreshTokenAction, templateOfProject, projectPreview, platform];
  grafx.signOut();
  grafx.dispose();
}

// Mistakes the types must catch.
// @ts-expect-error signerUrl is required
new GraFxClient({});
// @ts-expect-error credentials is a RequestCredentials value
new GraFxClient({ signerUrl: "/", credentials: "always" });
// @ts-expect-error an output has exactly one source
grafx_mistakes().output.render("pdf", { templateId: "a", projectId: "b" });
// @ts-expect-error CHILI has no bmp output
grafx_mistakes().output.render("bmp", { templateId: "a" });
// @ts-expect-error uiLoaderConfig needs a selector
grafx_mistakes().studio.uiLoaderConfig({ projectId: "p" });
function grafx_mistakes(): GraFxClient { return new GraFxClient({ signerUrl: "/" }); }
// @ts-expect-error sortOrder is asc or desc, in all() as in list()
grafx_mistakes().templates.all({ sortOrder: "up" });
// @ts-expect-error project previews take no layoutId (the release notes give it to templates)
grafx_mistakes().projects.preview("p", "thumbnail", { layoutId: "0" });
// @ts-expect-error a helper's options are an object, not a number
grafx_mistakes().media.preview("m1", "thumbnail", 5000);
// @ts-expect-error via takes the integration's name
grafx_mistakes().via();
// @ts-expect-error accessToken resolves to a string, not a number
export const wrong: Promise<number> = new GraFxClient({ signerUrl: "/" }).accessToken();
