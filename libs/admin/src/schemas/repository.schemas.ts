import { accountName, pageQuery, searchText } from './common.schemas.js';

export const listRepositoriesQuery = pageQuery.extend({ q: searchText, namespace: accountName.optional() });
