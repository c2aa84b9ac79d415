import t from 'tap'
import { dialectOf } from '../../src/store/database.js'
import { buildTestApp, TEST_BACKEND } from '../helpers/app.js'

t.test(`this run exercises the ${TEST_BACKEND} store`, async (t) => {
  const app = await buildTestApp(t)
  t.equal(dialectOf(app.db), TEST_BACKEND)
  t.equal(app.changeListener !== null, TEST_BACKEND === 'postgres', 'a PostgreSQL replica listens for changes')
})
