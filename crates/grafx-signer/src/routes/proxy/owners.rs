//! Each signed-in user's projects and outputs are theirs, though every user writes through the
//! integration's one CHILI identity. What a user creates through the proxy is bound to them in the
//! ownership store (a project from `POST projects`, an output task from `POST output/*`, a preview
//! task from a preview's 202 reply); a request that names one is forwarded only for its owner, and
//! anyone else gets the 404 problem+json CHILI gives for what does not exist, with nothing
//! forwarded. A project list shows only the user's own projects. When the store cannot answer,
//! such requests fail closed: 503 `ownership_unavailable` with `Retry-After`.
//!
//! ```ignore
//! let claim = owners::claim(&parts.method, &path, parts.uri.query());
//! if let Some(refused) = owners::check(&state, &admitted, &claim, user, body).await? { return Ok(refused) }
//! // … forward, then bind what CHILI created:
//! let body = owners::settle(&state, &admitted, &claim, user, status, body).await?;
//! ```

use std::time::Duration;

use crate::ProxyPath;
use axum::body::Bytes;
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use grafx_core::ErrorCode;
use serde_json::Value;

use super::Admitted;
use crate::{AppError, AppState, Identity, OwnershipError, Resource, ResourceKind};

/// What a request does with resources users own.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(super) struct Claim {
    /// The resource the path names: forwarded only for its owner.
    pub(super) names: Option<Resource>,
    /// What CHILI's reply creates, to bind to the user.
    pub(super) creates: Option<ResourceKind>,
    /// `GET projects`: the reply's `data` filtered to the user's own.
    pub(super) lists: bool,
    /// `POST output/*`: a `projectId` in the body or query must be the user's.
    pub(super) renders_project: bool,
    /// A request refused whenever owners are kept apart, and why.
    pub(super) refused: Option<&'static str>,
}

impl Claim {
    /// Whether the request touches owned resources at all.
    pub(super) fn is_free(&self) -> bool {
        *self == Claim::default()
    }
}

/// What `method path` does with owned resources (CHILI's routes; literal segments in any case).
pub(super) fn claim(method: &Method, path: &ProxyPath) -> Claim {
    let segments: Vec<String> = path
        .as_str()
        .split('/')
        .map(str::to_ascii_lowercase)
        .collect();
    let s: Vec<&str> = segments.iter().map(String::as_str).collect();
    let raw: Vec<&str> = path.as_str().split('/').collect();
    let mut claim = Claim::default();
    match s.as_slice() {
        ["projects"] if *method == Method::GET => claim.lists = true,
        ["projects"] if *method == Method::POST => claim.creates = Some(ResourceKind::Project),
        ["projects"] => {
            claim.refused = Some(
                "requests on every project at once are refused while each user's projects are their own; name one project (e.g. DELETE projects/{id})",
            )
        }
        ["projects" | "templates", "preview", "tasks", _, ..] => {
            claim.names = Some(Resource::preview_task(raw[3]));
        }
        ["projects", _, "preview", _] => {
            claim.names = Some(Resource::project(raw[1]));
            claim.creates = Some(ResourceKind::PreviewTask);
        }
        ["templates", _, "preview", _] => claim.creates = Some(ResourceKind::PreviewTask),
        ["projects", _, ..] => claim.names = Some(Resource::project(raw[1])),
        ["output", "tasks", _, ..] => claim.names = Some(Resource::output_task(raw[2])),
        ["output", _] if *method == Method::POST => {
            claim.creates = Some(ResourceKind::OutputTask);
            claim.renders_project = true;
        }
        _ => {}
    }
    claim
}

/// The CHILI identity the integration's resources belong to.
fn identity(a: &Admitted<'_>) -> Identity {
    Identity::new(a.integration.environment.as_str(), &a.integration.client_id)
}

/// Who owns what a signed-in user creates: the user as the integration's caller check names them.
/// Each integration has its own caller check (its own issuer, its own forward-auth app), so the
/// same `sub` through two integrations on one CHILI identity may be two people: the owner is
/// named per integration, and one user's projects are reachable through the integration that
/// created them.
///
/// The integration's name goes first, length-prefixed, so no integration name and subject
/// (either may hold `:`) can spell another pair's owner.
pub(super) fn owner_name(a: &Admitted<'_>, subject: &str) -> String {
    format!("{}:{}:{subject}", a.name.len(), a.name)
}

fn unavailable(e: &OwnershipError) -> AppError {
    tracing::warn!(error = %e, "the ownership store cannot answer: owner-scoped proxy requests are refused");
    AppError::new(
        ErrorCode::OwnershipUnavailable,
        "the signer cannot check who owns this right now; retry shortly",
    )
    .retry_after(Duration::from_secs(5))
}

/// The 404 problem+json CHILI answers for what a user cannot see.
fn not_found(what: &Resource) -> Response {
    let kind = match what.kind {
        ResourceKind::Project => "Project",
        ResourceKind::OutputTask => "Output task",
        ResourceKind::PreviewTask => "Preview task",
    };
    let body = serde_json::json!({
        "type": "https://tools.ietf.org/html/rfc9110#section-15.5.5",
        "title": "Not Found",
        "status": 404,
        "detail": format!("{kind} '{}' was not found.", what.id),
    });
    let mut res = (StatusCode::NOT_FOUND, body.to_string()).into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    res
}

/// Checks a request before it is forwarded: `Ok(Some(reply))` answers it instead (404 for what
/// is not the user's), `Ok(None)` lets it go on.
pub(super) async fn check(
    state: &AppState,
    a: &Admitted<'_>,
    claim: &Claim,
    user: Option<&str>,
    body: Option<&Bytes>,
    query: Option<&str>,
) -> Result<Option<Response>, AppError> {
    if a.proxy.shared_identity || claim.is_free() {
        return Ok(None);
    }
    if let Some(why) = claim.refused {
        return Err(AppError::new(ErrorCode::ProxyPathNotAllowed, why));
    }
    let Some(user) = user else {
        return Err(AppError::new(
            ErrorCode::CallerUnauthenticated,
            "the session names no user: the API proxy keeps each user's projects and outputs apart and needs to know whose they are",
        ));
    };
    let user = &owner_name(a, user);
    let store = state.ownership().ok_or_else(|| {
        unavailable(&OwnershipError::Unavailable(
            "no ownership store is configured".into(),
        ))
    })?;
    let id = identity(a);
    let mut named: Vec<Resource> = claim.names.iter().cloned().collect();
    if claim.renders_project {
        named.extend(projects_in(body, query)?.into_iter().map(Resource::project));
    }
    for resource in named {
        let owner = store
            .owner(&id, &record_of(&resource, user))
            .await
            .map_err(|e| unavailable(&e))?;
        if owner.as_deref() != Some(user) {
            return Ok(Some(not_found(&resource)));
        }
    }
    if claim.creates.is_some() || claim.lists {
        // Before CHILI creates what could not be bound.
        store.ping().await.map_err(|e| unavailable(&e))?;
    }
    Ok(None)
}

/// Every project a render names: each `projectId` key of its JSON body (any case: CHILI's JSON
/// binding may match keys without regard to case, and may take either of two duplicates), and each
/// in its query (the older `output/image?projectId=…` form). All must be the user's. A body that
/// is not a JSON object is refused: the proxy could not tell which project it names.
fn projects_in(body: Option<&Bytes>, query: Option<&str>) -> Result<Vec<String>, AppError> {
    let mut named = Vec::new();
    if let Some(body) = body.filter(|b| !b.is_empty()) {
        let text = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
        let refused = || {
            AppError::new(
                ErrorCode::InvalidRequest,
                "a render's body must be a JSON object (with its projectId, when it renders a project)",
            )
        };
        // Parsed as pairs, so duplicate keys are all seen.
        let pairs: Vec<(String, Box<serde_json::value::RawValue>)> =
            serde_json::from_slice::<PairList>(text)
                .map_err(|_| refused())?
                .0;
        for (key, value) in pairs {
            if key.eq_ignore_ascii_case("projectId") {
                let id: Value = serde_json::from_str(value.get()).map_err(|_| refused())?;
                match id {
                    Value::Null => {}
                    Value::String(id) => named.push(id),
                    // A number or object could still name a project to a lenient binder.
                    other => named.push(other.to_string()),
                }
            }
        }
    }
    if let Some(query) = query {
        named.extend(
            url::form_urlencoded::parse(query.as_bytes())
                .filter(|(k, _)| k.eq_ignore_ascii_case("projectId"))
                .map(|(_, v)| v.into_owned()),
        );
    }
    Ok(named)
}

/// A JSON object's members in order, duplicates kept.
struct PairList(Vec<(String, Box<serde_json::value::RawValue>)>);

impl<'de> serde::Deserialize<'de> for PairList {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Members;
        impl<'de> serde::de::Visitor<'de> for Members {
            type Value = PairList;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<PairList, A::Error> {
                let mut pairs = Vec::new();
                while let Some(pair) = map.next_entry()? {
                    pairs.push(pair);
                }
                Ok(PairList(pairs))
            }
        }
        d.deserialize_map(Members)
    }
}

/// The record that says `user` may reach `resource`. Projects and output tasks have one owner.
/// A preview task may have several: CHILI (like the emulator) can hand the same task to everyone
/// who asks for the same template's preview, and each user who was given it in a 202 reply may
/// poll it, so preview tasks are recorded per user.
fn record_of(resource: &Resource, user: &str) -> Resource {
    match resource.kind {
        ResourceKind::PreviewTask => Resource::preview_task(format!("{}/{user}", resource.id)),
        _ => resource.clone(),
    }
}

/// Whether the reply to this claim must be held and looked at ([`settle`]).
pub(super) fn settles(a: &Admitted<'_>, claim: &Claim) -> bool {
    !a.proxy.shared_identity && (claim.creates.is_some() || claim.lists)
}

/// Whether CHILI is asked for JSON whatever the caller accepts: a list and what creates a project
/// or output must be read. Not a preview, whose 200 is the image.
pub(super) fn wants_json(claim: &Claim) -> bool {
    claim.lists
        || matches!(
            claim.creates,
            Some(ResourceKind::Project | ResourceKind::OutputTask)
        )
}

/// After CHILI answered: binds what it created to the user, or keeps only the user's own
/// projects in a list. Returns the body to send.
pub(super) async fn settle(
    state: &AppState,
    a: &Admitted<'_>,
    claim: &Claim,
    user: &str,
    status: StatusCode,
    body: Vec<u8>,
    search: Option<&str>,
) -> Result<Vec<u8>, AppError> {
    let user = &owner_name(a, user);
    let store = state.ownership().ok_or_else(|| {
        unavailable(&OwnershipError::Unavailable(
            "no ownership store is configured".into(),
        ))
    })?;
    let lists = claim.lists && status.is_success();
    let Ok(mut json) = serde_json::from_slice::<Value>(&body) else {
        return if lists {
            Err(unfiltered("it is not JSON"))
        } else {
            Ok(body)
        };
    };
    let id = identity(a);
    if let Some(kind) = claim.creates.filter(|_| status.is_success()) {
        bind_created(store.as_ref(), a, &id, kind, status, &json, user).await?;
    }
    if lists {
        keep_own_projects(store.as_ref(), &id, &mut json, user, search).await?;
        return Ok(json.to_string().into_bytes());
    }
    Ok(body)
}

/// Records the resource CHILI just created as `user`'s; an id already someone else's is
/// withheld (502), and a record that cannot be written fails the reply (503).
async fn bind_created(
    store: &dyn crate::OwnershipStore,
    a: &Admitted<'_>,
    id: &Identity,
    kind: ResourceKind,
    status: StatusCode,
    json: &Value,
    user: &str,
) -> Result<(), AppError> {
    let created = match kind {
        ResourceKind::Project => json["id"].as_str().or(json["data"]["id"].as_str()),
        // A preview answered at once (200, an image) created no task.
        ResourceKind::PreviewTask if status != StatusCode::ACCEPTED => None,
        _ => json["data"]["taskId"].as_str(),
    };
    let Some(created) = created else {
        return Ok(());
    };
    let resource = Resource {
        kind,
        id: created.to_owned(),
    };
    let owner = store.bind(id, &record_of(&resource, user), user).await.map_err(|e| {
        tracing::error!(integration = a.name, user, kind = kind.as_str(), id = created, "CHILI created this, but its owner could not be recorded: no one can reach it through the proxy");
        unavailable(&e)
    })?;
    if owner != *user {
        // CHILI's ids are fresh: an id already someone else's is not handed to this user.
        tracing::error!(
            integration = a.name,
            user,
            kind = kind.as_str(),
            id = created,
            "CHILI answered with an id already recorded as another user's: the reply is withheld"
        );
        return Err(AppError::new(
            ErrorCode::ProxyUpstreamFailed,
            "the Environment API answered with an id that belongs to another user; nothing was passed on",
        ));
    }
    Ok(())
}

/// A project list cut to `user`'s own (and to `search`), without CHILI's total of everyone's.
async fn keep_own_projects(
    store: &dyn crate::OwnershipStore,
    id: &Identity,
    json: &mut Value,
    user: &str,
    search: Option<&str>,
) -> Result<(), AppError> {
    let items = json
        .get_mut("data")
        .and_then(Value::as_array_mut)
        .ok_or_else(|| unfiltered("it has no `data` list"))?;
    let ids: Vec<String> = items
        .iter()
        .map(|p| p["id"].as_str().unwrap_or_default().to_owned())
        .collect();
    let mine = store
        .owned_of(id, ResourceKind::Project, &ids, user)
        .await
        .map_err(|e| unavailable(&e))?;
    let mut keep = mine.into_iter();
    items.retain(|p| keep.next().unwrap_or(false) && matches_search(p, search));
    // CHILI's total counts every user's projects: not the user's to know.
    if let Some(obj) = json.as_object_mut() {
        obj.remove("total");
    }
    keep_search_in_next_page(json, search);
    Ok(())
}

/// 502 for a project list the proxy could not filter to the user's own: never passed on whole.
pub(super) fn unfiltered(why: &str) -> AppError {
    AppError::new(
        ErrorCode::ProxyUpstreamFailed,
        format!("the Environment API's project list could not be filtered to the user's own projects ({why}); nothing was passed on"),
    )
}

/// The query CHILI gets for a project list kept apart, and the `search` the proxy matches itself.
/// Only paging goes to CHILI (`limit`, `pageSize`, `nextPageToken`): matched or sorted against
/// every user's projects, `search`, `sortBy` and any filter would let the pages' emptiness and
/// `links.nextPage` tell what other users' projects are called. The proxy matches `search` on the
/// user's own projects, against the name (case-insensitively; CHILI documents no finer rule);
/// sorting is CHILI's default order.
pub(super) fn split_search(claim: &Claim, query: Option<&str>) -> (Option<String>, Option<String>) {
    let Some(query) = query.filter(|_| claim.lists) else {
        return (query.map(str::to_owned), None);
    };
    let mut search = None;
    let mut rest = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
        if k.eq_ignore_ascii_case("search") {
            search = Some(v.into_owned()).filter(|s| !s.is_empty());
        } else if ["limit", "pageSize", "nextPageToken"]
            .iter()
            .any(|p| k.eq_ignore_ascii_case(p))
        {
            rest.append_pair(&k, &v);
        }
    }
    let rest = rest.finish();
    (Some(rest).filter(|r| !r.is_empty()), search)
}

/// A filtered list's `links.nextPage` (a URL) carries the `search` the proxy matched, so a page
/// that follows it verbatim is searched too.
fn keep_search_in_next_page(json: &mut Value, search: Option<&str>) {
    let Some(search) = search else { return };
    if let Some(next) = json.pointer_mut("/links/nextPage") {
        if let Some(url) = next.as_str().filter(|u| u.contains('?')) {
            let pair = url::form_urlencoded::Serializer::new(String::new())
                .append_pair("search", search)
                .finish();
            *next = Value::String(format!("{url}&{pair}"));
        }
    }
}

fn matches_search(project: &Value, search: Option<&str>) -> bool {
    search.is_none_or(|s| {
        project["name"]
            .as_str()
            .is_some_and(|n| n.to_lowercase().contains(&s.to_lowercase()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(method: Method, path: &str) -> Claim {
        claim(&method, &ProxyPath::parse(path).unwrap())
    }

    #[test]
    fn chili_routes_name_create_or_list_what_users_own() {
        assert_eq!(
            of(Method::GET, "projects/P1").names,
            Some(Resource::project("P1"))
        );
        assert_eq!(
            of(Method::PUT, "Projects/P1/document").names,
            Some(Resource::project("P1"))
        );
        assert_eq!(
            of(Method::PATCH, "projects/P1").names,
            Some(Resource::project("P1"))
        );
        let preview = of(Method::GET, "projects/P1/preview/thumbnail");
        assert_eq!(preview.names, Some(Resource::project("P1")));
        assert_eq!(preview.creates, Some(ResourceKind::PreviewTask));
        assert_eq!(
            of(Method::GET, "projects/preview/tasks/T1").names,
            Some(Resource::preview_task("T1"))
        );
        assert_eq!(
            of(Method::GET, "templates/preview/tasks/T1/download").names,
            Some(Resource::preview_task("T1"))
        );
        assert_eq!(
            of(Method::GET, "templates/X/preview/medium").creates,
            Some(ResourceKind::PreviewTask)
        );
        assert_eq!(
            of(Method::GET, "output/tasks/T2/download").names,
            Some(Resource::output_task("T2"))
        );
        let render = of(Method::POST, "output/pdf");
        assert_eq!(render.creates, Some(ResourceKind::OutputTask));
        assert!(render.renders_project);
        assert_eq!(
            of(Method::POST, "projects").creates,
            Some(ResourceKind::Project)
        );
        assert!(of(Method::GET, "projects").lists);
        assert!(of(Method::DELETE, "projects").refused.is_some());
        for free in [
            "templates",
            "templates/X",
            "output/settings",
            "media/M/preview/thumbnail",
        ] {
            assert!(of(Method::GET, free).is_free(), "{free}");
        }
    }

    #[test]
    fn a_render_names_its_projects_in_the_body_and_the_query_in_any_spelling() {
        let named = |body: &'static [u8], query: Option<&str>| {
            projects_in(Some(&Bytes::from_static(body)), query)
        };
        assert_eq!(
            named(br#"{"projectId":"P1","outputSettingsId":"x"}"#, None).unwrap(),
            ["P1"]
        );
        assert_eq!(
            projects_in(None, Some("outputType=png&projectId=P2")).unwrap(),
            ["P2"]
        );
        assert_eq!(
            named(
                br#"{"ProjectId":"P1","projectid":"P2","projectId":"P3"}"#,
                Some("PROJECTID=P4")
            )
            .unwrap(),
            ["P1", "P2", "P3", "P4"],
            "every spelling and duplicate"
        );
        assert_eq!(
            named(b"\xEF\xBB\xBF{\"projectId\":\"P5\"}", None).unwrap(),
            ["P5"]
        );
        assert_eq!(named(br#"{"projectId":42}"#, None).unwrap(), ["42"]);
        assert!(named(b"{}", Some("a=b")).unwrap().is_empty());
        assert!(named(br#"{"projectId":null}"#, None).unwrap().is_empty());
        assert!(projects_in(Some(&Bytes::new()), None).unwrap().is_empty());
        for refused in [&b"[1]"[..], b"not json", br#"{"projectId":"P1""#] {
            let e = named(refused, None).unwrap_err();
            assert_eq!(e.code, ErrorCode::InvalidRequest);
        }
    }

    #[test]
    fn a_kept_apart_list_searches_here_not_at_chili() {
        let list = of(Method::GET, "projects");
        assert_eq!(
            split_search(
                &list,
                Some("pageSize=5&search=Acme%20Co&sortBy=name&sortOrder=desc&folder=x&nextPageToken=T&limit=2")
            ),
            (
                Some("pageSize=5&nextPageToken=T&limit=2".to_owned()),
                Some("Acme Co".to_owned())
            ),
            "only paging reaches CHILI"
        );
        assert_eq!(
            split_search(&list, Some("Search=x")),
            (None, Some("x".to_owned()))
        );
        assert_eq!(split_search(&list, Some("search=")), (None, None));
        let other = of(Method::GET, "templates");
        assert_eq!(
            split_search(&other, Some("search=x")),
            (Some("search=x".to_owned()), None),
            "only project lists"
        );
        let p = serde_json::json!({"id": "1", "name": "The ACME brochure"});
        assert!(matches_search(&p, Some("acme")));
        assert!(matches_search(&p, None));
        assert!(!matches_search(&p, Some("globex")));
        assert!(!matches_search(&serde_json::json!({"id": "1"}), Some("a")));
        let mut page =
            serde_json::json!({"links": {"nextPage": "projects?limit=2&nextPageToken=T"}});
        keep_search_in_next_page(&mut page, Some("a b"));
        assert_eq!(
            page["links"]["nextPage"],
            "projects?limit=2&nextPageToken=T&search=a+b"
        );
        let mut bare = serde_json::json!({"links": {"nextPage": "T"}});
        keep_search_in_next_page(&mut bare, Some("a"));
        assert_eq!(
            bare["links"]["nextPage"], "T",
            "a bare token is left as it is"
        );
    }
}
