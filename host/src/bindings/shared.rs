//! What every API version's bindings share, written once as a macro over
//! the version's generated modules: the error and storage conversions, the
//! persistence writer and the log import, which did not change between
//! versions (their WIT types are still distinct per version).

/// Expand inside a version module that has `wit` (its `types`),
/// `persistence`, `log` and a `HostResult` alias in scope.
macro_rules! shared_imports {
    () => {
        impl From<ImportError> for wit::Error {
            fn from(e: ImportError) -> wit::Error {
                match e {
                    ImportError::Denied(m) => wit::Error::Denied(m),
                    ImportError::Invalid(m) => wit::Error::Invalid(m),
                    ImportError::TooLarge(m) => wit::Error::TooLarge(m),
                    ImportError::QuotaExceeded(m) => wit::Error::QuotaExceeded(m),
                    ImportError::NotFound(m) => wit::Error::NotFound(m),
                    ImportError::Host(m) => wit::Error::Host(m),
                }
            }
        }

        impl From<wit::Model> for Model {
            fn from(m: wit::Model) -> Model {
                match m {
                    wit::Model::Room => Model::Room,
                    wit::Model::Discussion => Model::Discussion,
                    wit::Model::Message => Model::Message,
                    wit::Model::LivechatMessage => Model::LivechatMessage,
                    wit::Model::User => Model::User,
                    wit::Model::File => Model::File,
                    wit::Model::Misc => Model::Misc,
                    wit::Model::VideoConference => Model::VideoConference,
                }
            }
        }

        impl From<Model> for wit::Model {
            fn from(m: Model) -> wit::Model {
                match m {
                    Model::Room => wit::Model::Room,
                    Model::Discussion => wit::Model::Discussion,
                    Model::Message => wit::Model::Message,
                    Model::LivechatMessage => wit::Model::LivechatMessage,
                    Model::User => wit::Model::User,
                    Model::File => wit::Model::File,
                    Model::Misc => wit::Model::Misc,
                    Model::VideoConference => wit::Model::VideoConference,
                }
            }
        }

        fn associations(list: Vec<wit::Association>) -> Vec<Association> {
            list.into_iter()
                .map(|a| Association {
                    model: a.model.into(),
                    id: a.id,
                })
                .collect()
        }

        fn stored(r: Record) -> wit::Stored {
            wit::Stored {
                id: r.id,
                data: r.data,
                associations: r
                    .associations
                    .into_iter()
                    .map(|a| wit::Association {
                        model: a.model.into(),
                        id: a.id,
                    })
                    .collect(),
            }
        }

        fn all_stored(list: Vec<Record>) -> Vec<wit::Stored> {
            list.into_iter().map(stored).collect()
        }

        /// Map an accessor's result to this version's WIT error.
        fn out<T, U>(r: Result<T, ImportError>, f: impl FnOnce(T) -> U) -> HostResult<U> {
            Ok(r.map(f).map_err(wit::Error::from))
        }

        impl persistence::HostWriter for CallState {
            fn create(&mut self, _w: Resource<WriterToken>, data: String) -> HostResult<String> {
                out(self.write(|t| t.create(&data, &[]))?, |v| v)
            }

            fn create_with_associations(
                &mut self,
                _w: Resource<WriterToken>,
                data: String,
                list: Vec<wit::Association>,
            ) -> HostResult<String> {
                let list = associations(list);
                out(self.write(|t| t.create(&data, &list))?, |v| v)
            }

            fn update(
                &mut self,
                _w: Resource<WriterToken>,
                id: String,
                data: String,
                upsert: bool,
            ) -> HostResult<String> {
                out(self.write(|t| t.update(&id, &data, upsert))?, |v| v)
            }

            fn update_by_associations(
                &mut self,
                _w: Resource<WriterToken>,
                list: Vec<wit::Association>,
                data: String,
                upsert: bool,
            ) -> HostResult<Vec<String>> {
                let list = associations(list);
                out(
                    self.write(|t| t.update_by_associations(&list, &data, upsert))?,
                    |v| v,
                )
            }

            fn remove(
                &mut self,
                _w: Resource<WriterToken>,
                id: String,
            ) -> HostResult<Option<wit::Stored>> {
                out(self.write(|t| t.remove(&id))?, |r| r.map(stored))
            }

            fn remove_by_associations(
                &mut self,
                _w: Resource<WriterToken>,
                list: Vec<wit::Association>,
            ) -> HostResult<Vec<wit::Stored>> {
                let list = associations(list);
                out(self.write(|t| t.remove_by_associations(&list))?, all_stored)
            }

            fn drop(&mut self, _rep: Resource<WriterToken>) -> wasmtime::Result<()> {
                // Borrows only: the guest never owns a writer, so there is nothing to free.
                Ok(())
            }
        }

        impl log::Host for CallState {
            fn log(&mut self, level: log::Level, message: String) -> wasmtime::Result<()> {
                let level = match level {
                    log::Level::Debug => "debug",
                    log::Level::Info => "info",
                    log::Level::Warn => "warn",
                    log::Level::Error => "error",
                };
                self.app_log(level, message);
                Ok(())
            }
        }
    };
}

pub(crate) use shared_imports;

/// The reader methods every version shares (records and settings), to
/// expand inside a version's `impl reader::Host for CallState`.
macro_rules! shared_reader {
    () => {
        fn read(&mut self, id: String) -> HostResult<Option<wit::Stored>> {
            out(self.read_record(&id), |r| r.map(stored))
        }

        fn read_by_associations(
            &mut self,
            list: Vec<wit::Association>,
        ) -> HostResult<Vec<wit::Stored>> {
            out(self.read_matching(&associations(list)), all_stored)
        }

        fn setting(&mut self, id: String) -> HostResult<String> {
            out(self.setting_json(&id), |v| v)
        }
    };
}

pub(crate) use shared_reader;
