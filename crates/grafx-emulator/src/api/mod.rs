//! The Environment API under `/grafx/api/v1/environment/{env}/`: bearer-protected, scope-checked,
//! paginated like CHILI's (`{data, pageSize, links:{nextPage}, total}`), errors as problem+json.

mod media;
mod output;
mod platform;
mod previews;
mod projects;
mod studio;
mod templates;

pub(crate) use platform::routes as platform_routes;

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use grafx_core::Scopes;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::problem::Problem;
use crate::tokens::TokenRejection;
use crate::Emulator;

/// The largest API request body accepted: CHILI's variable-data guide: "a hard limit of 10,000
/// rows (objects) or a 10 MB request body, whichever comes first" (the whole body; "MB" read as
/// MiB, the looser reading). The guide states it for output requests; no source names a limit
/// for any other request, so the emulator applies the one it knows to every route.
pub(crate) const MAX_API_BODY: usize = 10 * 1024 * 1024;

/// The API routes, relative to the environment root.
pub(crate) fn routes() -> Router<Emulator> {
    Router::new()
        .route("/templates", get(templates::list))
        .route("/templates/{id}", get(templates::get))
        .route("/templates/{id}/download", get(templates::download))
        .route("/templates/{id}/preview", get(templates::preview_by_query))
        .route("/templates/{id}/preview/{kind}", get(templates::preview))
        .route("/templates/preview/tasks/{task}", get(previews::poll))
        .route(
            "/templates/preview/tasks/{task}/download",
            get(previews::download),
        )
        .route(
            "/projects",
            get(projects::list)
                .post(projects::create)
                .delete(projects::delete_many),
        )
        .route(
            "/projects/{id}",
            get(projects::get)
                .patch(projects::rename)
                .delete(projects::delete),
        )
        .route(
            "/projects/{id}/document",
            get(projects::document).put(projects::save_document),
        )
        .route("/projects/{id}/preview/{kind}", get(projects::preview))
        .route("/projects/preview/tasks/{task}", get(previews::poll))
        .route(
            "/projects/preview/tasks/{task}/download",
            get(previews::download),
        )
        .route("/media", get(media::list))
        .route("/media/{id}", get(media::get))
        .route("/media/{id}/preview/{size}", get(media::preview))
        .route("/media/{id}/download", get(media::download))
        .route("/output/settings", get(output::settings))
        .route("/output/settings/{id}", get(output::setting))
        .route("/output/{format}", post(output::start))
        .route("/output/tasks/{id}", get(output::task))
        .route("/output/tasks/{id}/download", get(output::download))
        .route("/connectors", get(studio::connector_list))
        .route("/connectors/{id}", get(studio::connector))
        .route("/user-interfaces", get(studio::user_interface_list))
        .route("/user-interfaces/{id}", get(studio::user_interface))
}

/// The authenticated caller of an API route: a client (on CHILI an integration is a user) and
/// its token's scopes.
pub(crate) struct Caller {
    client: String,
    scope: Scopes,
}

impl Caller {
    /// The client the token was issued to: the owner of what it creates.
    pub(crate) fn client(&self) -> &str {
        &self.client
    }

    /// Whether what `owner` created is the caller's: projects, their documents and previews,
    /// output tasks and their downloads belong to the client that created them. Another client
    /// is told they do not exist (404). CHILI's public sources say only that other users' projects
    /// and outputs cannot be reached, not whether the answer is 404 or 403; the helpers treat both
    /// as "not found".
    pub(crate) fn owns(&self, owner: &str) -> bool {
        self.client == owner
    }

    /// 403 unless the token carries `scope`.
    pub(crate) fn require(&self, scope: &str) -> Result<(), Problem> {
        self.require_any(&[scope])
    }

    /// 403 unless the token carries at least one of `scopes`.
    pub(crate) fn require_any(&self, scopes: &[&str]) -> Result<(), Problem> {
        if scopes.iter().any(|s| self.scope.contains(s)) {
            Ok(())
        } else {
            Err(Problem::new(
                StatusCode::FORBIDDEN,
                format!(
                    "The access token lacks the permission '{}' (it has: '{}').",
                    scopes.join("' or '"),
                    self.scope
                ),
            ))
        }
    }
}

impl FromRequestParts<Emulator> for Caller {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, em: &Emulator) -> Result<Self, Problem> {
        let value = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        let token = value
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, t)| t.trim())
            .filter(|t| !t.is_empty())
            .ok_or_else(Problem::missing_token)?;
        let now = em.now();
        let world = em.world();
        match world.issuer.validate(token, now) {
            Ok(rec) => Ok(Caller {
                client: rec.client.clone(),
                scope: rec.scope.clone(),
            }),
            Err(TokenRejection::Expired) => Err(Problem::invalid_token("The token expired")),
            Err(TokenRejection::Unknown) => Err(Problem::invalid_token("The token is not valid")),
        }
    }
}

/// A JSON request body, or a problem reply saying what is wrong with it.
pub(crate) fn json_body(body: Result<Json<Value>, JsonRejection>) -> Result<Value, Problem> {
    match body {
        Ok(Json(v)) => Ok(v),
        Err(e) => Err(Problem::new(e.status(), e.body_text())),
    }
}

/// The absolute URL of an API path.
pub(crate) fn api_url(em: &Emulator, path: &str) -> String {
    format!("{}{path}", em.environment_api_url())
}

/// A list's query. Parameters it does not name (such as `collectionId`) are ignored, as no source
/// says CHILI refuses them.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ListQuery {
    search: Option<String>,
    limit: Option<String>,
    sort_by: Option<String>,
    sort_order: Option<String>,
    next_page_token: Option<String>,
    folder: Option<String>,
    include_items_from_subfolders: Option<String>,
    include_folders: Option<String>,
}

/// `true`/`false` (as CHILI's media example connector sends them; absent: false).
fn flag(name: &str, value: Option<&str>) -> Result<bool, Problem> {
    match value.map(str::to_ascii_lowercase).as_deref() {
        None | Some("" | "false") => Ok(false),
        Some("true") => Ok(true),
        Some(other) => Err(Problem::bad_request(format!(
            "{name} must be true or false, not '{other}'"
        ))),
    }
}

impl ListQuery {
    /// The query string parsed, or a 400 saying what is wrong.
    pub(crate) fn parse(raw_query: Option<&str>) -> Result<Self, Problem> {
        serde_urlencoded::from_str(raw_query.unwrap_or(""))
            .map_err(|e| Problem::bad_request(format!("Invalid query string: {e}")))
    }

    /// `includeFolders`: whether folders are listed with the items.
    pub(crate) fn include_folders(&self) -> Result<bool, Problem> {
        flag("includeFolders", self.include_folders.as_deref())
    }

    /// `folder` (`/` or `/a/b`, a trailing slash ignored) and `includeItemsFromSubfolders`
    /// (`deep_by_default` when absent: CHILI's media connector always sends it, so no source
    /// shows CHILI's default; an older API description listed subfolders under `media` and kept
    /// `media/directory` for one folder's items). Without `folder`, everything is listed,
    /// wherever it is: no source says what CHILI lists then.
    fn folder(&self, deep_by_default: bool) -> Result<Option<(String, bool)>, Problem> {
        let deep = match self.include_items_from_subfolders.as_deref() {
            None | Some("") => deep_by_default,
            given => flag("includeItemsFromSubfolders", given)?,
        };
        let Some(folder) = self.folder.as_deref().filter(|f| !f.is_empty()) else {
            return Ok(None);
        };
        if !folder.starts_with('/') {
            return Err(Problem::bad_request(format!(
                "folder must start with a slash (such as /photos), not '{folder}'"
            )));
        }
        let trimmed = folder.trim_end_matches('/');
        let folder = if trimmed.is_empty() { "/" } else { trimmed };
        Ok(Some((folder.to_owned(), deep)))
    }

    /// `limit`: 10 when absent, 1 to 100.
    fn limit(&self) -> Result<usize, Problem> {
        match self.limit.as_deref() {
            None | Some("") => Ok(10),
            Some(l) => l
                .parse::<usize>()
                .ok()
                .filter(|l| (1..=100).contains(l))
                .ok_or_else(|| {
                    Problem::bad_request(format!(
                        "limit must be a whole number from 1 to 100, not '{l}'"
                    ))
                }),
        }
    }

    /// Where `nextPageToken` resumes.
    fn offset(&self) -> Result<usize, Problem> {
        match self.next_page_token.as_deref() {
            None | Some("") => Ok(0),
            Some(t) => decode_page_token(t)
                .ok_or_else(|| Problem::bad_request("nextPageToken is not valid")),
        }
    }

    /// `sortBy` (one of `sortable`, `name` by default) and whether `sortOrder` is `desc`. Empty
    /// values count as absent: CHILI's media connector sends `sortBy=&sortOrder=` when its host
    /// sets no order.
    fn sort<'q>(&'q self, sortable: &[&str]) -> Result<(&'q str, bool), Problem> {
        let given = |v: &'q Option<String>| v.as_deref().filter(|v| !v.is_empty());
        let sort_by = given(&self.sort_by).unwrap_or("name");
        if !sortable.contains(&sort_by) {
            return Err(Problem::bad_request(format!(
                "sortBy must be one of {}, not '{sort_by}'",
                sortable.join(", ")
            )));
        }
        let order = given(&self.sort_order).unwrap_or("asc");
        match order.to_ascii_lowercase().as_str() {
            "asc" => Ok((sort_by, false)),
            "desc" => Ok((sort_by, true)),
            other => Err(Problem::bad_request(format!(
                "sortOrder must be asc or desc, not '{other}'"
            ))),
        }
    }

    /// The `search` term, when not empty.
    fn search(&self) -> Option<&str> {
        self.search.as_deref().filter(|s| !s.is_empty())
    }
}

/// Filters, sorts and pages `items` (JSON objects with a `name`), the way CHILI's list endpoints
/// do. `sortable` lists the fields `sortBy` accepts.
pub(crate) fn paginate(
    em: &Emulator,
    path: &str,
    raw_query: Option<&str>,
    mut items: Vec<Value>,
    sortable: &[&str],
) -> Result<Json<Value>, Problem> {
    let q = ListQuery::parse(raw_query)?;
    let (limit, offset) = (q.limit()?, q.offset()?);
    let folder = q.folder(em.settings().subfolders_by_default)?;
    if let Some((folder, deep)) = &folder {
        items.retain(|v| in_folder(v["relativePath"].as_str().unwrap_or("/"), folder, *deep));
    }
    // An older API description: "Search by name, relativePath or resource ID".
    if let Some(search) = q.search() {
        let needle = search.to_lowercase();
        items.retain(|v| {
            ["name", "relativePath", "id"].iter().any(|field| {
                v[*field]
                    .as_str()
                    .is_some_and(|n| n.to_lowercase().contains(&needle))
            })
        });
    }
    let (sort_by, descending) = q.sort(sortable)?;
    items.sort_by(|a, b| {
        let key = |v: &Value| v[sort_by].as_str().unwrap_or("").to_lowercase();
        let ord = key(a).cmp(&key(b));
        if descending {
            ord.reverse()
        } else {
            ord
        }
    });
    let total = items.len();
    let page: Vec<Value> = items.into_iter().skip(offset).take(limit).collect();
    let next = offset + page.len();
    let bare = em.settings().next_page_as_token;
    let next_page = (next < total).then(|| {
        if bare {
            return encode_page_token(next);
        }
        let mut params = vec![
            ("limit", limit.to_string()),
            ("nextPageToken", encode_page_token(next)),
        ];
        if let Some(s) = q.search() {
            params.push(("search", s.to_owned()));
        }
        if let Some((folder, deep)) = &folder {
            params.push(("folder", folder.clone()));
            params.push(("includeItemsFromSubfolders", deep.to_string()));
        }
        if let Some(with) = &q.include_folders {
            params.push(("includeFolders", with.clone()));
        }
        params.push(("sortBy", sort_by.to_owned()));
        let order = if descending { "desc" } else { "asc" };
        params.push(("sortOrder", order.to_owned()));
        let query = serde_urlencoded::to_string(&params).unwrap_or_default();
        format!("{}?{query}", api_url(em, path))
    });
    Ok(Json(
        json!({ "data": page, "pageSize": limit, "links": { "nextPage": next_page }, "total": total }),
    ))
}

/// Whether what lies in `path` is listed for `folder`: directly in it, or (`deep`) anywhere below.
fn in_folder(path: &str, folder: &str, deep: bool) -> bool {
    let path = match path.trim_end_matches('/') {
        "" => "/",
        p => p,
    };
    path == folder
        || (deep
            && (folder == "/"
                || path
                    .strip_prefix(folder)
                    .is_some_and(|r| r.starts_with('/'))))
}

fn encode_page_token(offset: usize) -> String {
    URL_SAFE_NO_PAD.encode(format!("offset:{offset}"))
}

fn decode_page_token(token: &str) -> Option<usize> {
    let raw = String::from_utf8(URL_SAFE_NO_PAD.decode(token).ok()?).ok()?;
    raw.strip_prefix("offset:")?.parse().ok()
}

/// The fallback inside the API: unknown routes are problem+json 404s.
pub(crate) async fn not_found(State(_): State<Emulator>) -> Problem {
    Problem::not_found("No such Environment API endpoint.")
}

/// A wrong method on a known API route.
pub(crate) async fn method_not_allowed() -> Problem {
    Problem::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "This endpoint does not support that HTTP method.",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_folder_holds_its_own_items_and_with_subfolders_those_below() {
        // Shallow: only the folder itself, a trailing slash on the item's path ignored.
        assert!(in_folder("/photos", "/photos", false));
        assert!(in_folder("/photos/", "/photos", false));
        assert!(in_folder("/", "/", false));
        assert!(in_folder("", "/", false));
        assert!(!in_folder("/photos/products", "/photos", false));
        assert!(!in_folder("/photos", "/", false));
        // Deep: everything below, but not a sibling that shares a prefix.
        assert!(in_folder("/photos/products", "/photos", true));
        assert!(!in_folder("/photosX", "/photos", true));
        assert!(!in_folder("/photos", "/photos/products", true));
        assert!(in_folder("/a/b/c", "/", true));
    }

    #[test]
    fn the_folder_parameter_is_normalised_and_checked() {
        let q = |raw: &str| ListQuery::parse(Some(raw)).unwrap();
        assert_eq!(
            q("folder=%2Fphotos%2F").folder(false).unwrap(),
            Some(("/photos".to_owned(), false))
        );
        assert_eq!(
            q("folder=%2F%2F").folder(false).unwrap(),
            Some(("/".to_owned(), false))
        );
        assert_eq!(q("folder=").folder(true).unwrap(), None);
        assert_eq!(
            q("folder=%2Fa&includeItemsFromSubfolders=")
                .folder(true)
                .unwrap(),
            Some(("/a".to_owned(), true)),
            "an empty flag takes the default"
        );
        assert_eq!(
            q("folder=%2Fa&includeItemsFromSubfolders=TRUE")
                .folder(false)
                .unwrap(),
            Some(("/a".to_owned(), true))
        );
        assert!(q("folder=photos").folder(false).is_err());
        assert!(q("folder=%2Fa&includeItemsFromSubfolders=yes")
            .folder(false)
            .is_err());
    }

    #[test]
    fn an_empty_order_is_no_order() {
        let q = |raw: &str| ListQuery::parse(Some(raw)).unwrap();
        let sortable = ["name", "id"];
        assert_eq!(
            q("sortBy=&sortOrder=").sort(&sortable).unwrap(),
            ("name", false)
        );
        assert_eq!(
            q("sortBy=id&sortOrder=DESC").sort(&sortable).unwrap(),
            ("id", true)
        );
        assert!(q("sortBy=size").sort(&sortable).is_err());
        assert!(q("sortOrder=up").sort(&sortable).is_err());
    }
}
