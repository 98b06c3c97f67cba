//! Control-socket requests: `show` answered from the router's state and
//! the sessions' stats, `clear` and reload handed to the router. A reload
//! reads and plans the file and the key here; the router applies it.

use tracing::{error, info, warn};

use super::router::{Action, Input};
use super::shell::Shell;
use crate::api::{Request, Response};
use crate::config::Config;
use crate::plan::{self, ReloadPlan};

impl Shell {
    pub(super) async fn answer(&mut self, request: Request) -> Response {
        let cfg = self.router.config().clone();
        match request {
            Request::Summary => {
                let peers = self.runtime();
                Response::Summary(super::show::summary(&cfg, self.router.rib(), &peers))
            }
            Request::Routes {
                afi: _,
                prefix: Some(prefix),
            } => {
                let peers = self.runtime();
                let rib = self.router.rib();
                Response::Route(super::show::route(rib, &peers, &cfg, prefix))
            }
            Request::Routes { afi, prefix: None } => {
                let peers = self.runtime();
                let rib = self.router.rib();
                Response::Routes(super::show::routes(&cfg, rib, &peers, afi, None))
            }
            Request::Neighbors { address } => {
                let peers = self.runtime();
                let (rib, restart) = (self.router.rib(), self.router.restart());
                let mut n = super::show_peers::neighbors(&cfg, rib, &peers, address, restart);
                self.bfd_show(&mut n);
                Response::Neighbors(n)
            }
            Request::NeighborRoutes {
                address,
                which,
                afi,
            } => {
                let peers = self.runtime();
                let rib = self.router.rib_mut();
                super::show_adj::neighbor_routes(&cfg, rib, &peers, address, which, afi)
            }
            Request::Tunnels => {
                let peers = self.runtime();
                let t = super::show_peers::tunnels(&self.tunnels, &peers, &self.router).await;
                Response::Tunnels(t)
            }
            Request::Nexthops => Response::Nexthops(super::show::nexthops(self.router.rib())),
            Request::NexthopObjects => match self.fib.nexthops().await {
                Ok(o) => {
                    Response::NexthopObjects(super::show::nexthop_objects(self.router.rib(), o))
                }
                Err(e) => Response::Error(format!("the FIB writer: {e}")),
            },
            Request::Plan { path } => match self.plan_file(Some(&path)) {
                Ok((_, plan)) => Response::Plan(plan),
                Err(e) => Response::Error(e),
            },
            Request::Reload => match self.reload_from_file().await {
                Ok(plan) => Response::Plan(plan),
                Err(e) => {
                    error!("reload failed, running configuration kept: {e}");
                    Response::Error(e)
                }
            },
            Request::Clear { peer, soft } => {
                let applied = self.run_input(Input::Clear { which: peer, soft }).await;
                let cleared = applied.answers.into_iter().find_map(|a| match a {
                    Action::Cleared(r) => Some(r),
                    _ => None,
                });
                match cleared {
                    Some(Ok(done)) => Response::Done(done),
                    Some(Err(e)) => Response::Error(e),
                    None => Response::Error("clear: no answer".into()),
                }
            }
        }
    }

    /// Loads `path` (or the running config's file) and plans the reload.
    pub(super) fn plan_file(
        &self,
        path: Option<&std::path::Path>,
    ) -> Result<(Config, ReloadPlan), String> {
        let running = self.router.config();
        let path = path.unwrap_or(&running.path);
        let new = crate::host::load(path).map_err(|e| e.to_string())?.config;
        let plan = plan::plan(running, &new);
        Ok((new, plan))
    }

    pub(super) async fn reload_from_file(&mut self) -> Result<ReloadPlan, String> {
        let (new, plan) = self.plan_file(None)?;
        info!("reload plan:\n{plan}");
        self.reload(new, &plan).await?;
        info!("reload applied");
        Ok(plan)
    }

    /// Applies `new` by difference (see the router's reload). A plan that
    /// needs a restart is refused and nothing changes.
    async fn reload(&mut self, new: Config, plan: &ReloadPlan) -> Result<(), String> {
        if !plan.restart_required.is_empty() {
            return Err(format!(
                "not reloaded: {} cannot change without a restart",
                plan.restart_required.join(", ")
            ));
        }
        // The key file is read again on every reload: a new key in the same
        // file rotates the key of every tunnel, as a new file does.
        let mut key_changed = false;
        if new.peers.values().any(|p| p.wireguard.is_some()) {
            let path = &new.wireguard.private_key_file;
            let key = tunnels::keys::load_or_generate(path)
                .map_err(|e| format!("private key {}: {e}", path.display()))?;
            key_changed = self.private_key.as_ref() != Some(&key);
            self.private_key = Some(key);
        }
        if let Err(e) = self.tunnels.ensure_loopbacks(&plan.loopbacks_added).await {
            warn!(error = %e, "adding loopbacks failed");
        }
        let input = Input::Reload {
            config: new,
            plan: plan.clone(),
            key_changed,
        };
        let applied = self.run_input(input).await;
        // kernel.rules by difference, endpoints re-pinned.
        self.underlay.reload(self.router.config().clone());
        let mut errors = applied.errors;
        for a in applied.answers {
            if let Action::Reloaded(Err(e)) = a {
                errors.push(e);
            }
        }
        match errors.is_empty() {
            true => Ok(()),
            false => Err(errors.join("; ")),
        }
    }
}
